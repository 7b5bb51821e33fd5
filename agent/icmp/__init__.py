"""ICMP: packets on the wire, sockets, the sweep engine and traceroute."""
