"""SNMP health of connectivity points: radio, power, optics, cellular, device and VSAT families."""
