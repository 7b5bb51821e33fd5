"""SNMP: the BER codec, v2c/v3 sessions, device polls and what successive polls mean."""
