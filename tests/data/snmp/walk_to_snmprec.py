"""Convert net-snmp ``snmpbulkwalk -On -Ox`` output (stdin) into snmpsim's .snmprec (stdout).

Used by record.sh because ``snmpsim-record-commands`` crashes with pysnmp 7.1 (FIELD-NOTES).
"""

from __future__ import annotations

import re
import sys

_LINE = re.compile(r"^(\.[0-9.]+) = (?:([A-Za-z0-9-]+): ?)?(.*)$")
_TAGS = {
    "INTEGER": "2",
    "Hex-STRING": "4x",
    "STRING": "4",
    "OID": "6",
    "IpAddress": "64",
    "Counter32": "65",
    "Gauge32": "66",
    "Timeticks": "67",
    "Counter64": "70",
}


def convert(lines: list[str]) -> list[str]:
    records: list[list[str]] = []
    for raw in lines:
        line = raw.rstrip("\n")
        match = _LINE.match(line)
        if match is None:  # continuation of a multi-line Hex-STRING
            if records and records[-1][1] == "Hex-STRING":
                records[-1][2] += " " + line.strip()
            continue
        oid, kind, value = match.groups()
        if kind is None and value == '""':
            kind, value = "Hex-STRING", ""
        if kind not in _TAGS:
            continue  # "No more variables left in this MIB View" and friends
        records.append([oid.lstrip("."), kind, value.strip()])
    out = []
    for oid, kind, value in records:
        if kind == "Hex-STRING":
            value = value.replace(" ", "").lower()
        elif kind == "Timeticks":
            value = value.split(")")[0].lstrip("(")
        elif kind == "OID":
            value = value.lstrip(".")
        elif kind == "INTEGER":
            value = re.sub(r"^.*\((-?\d+)\)$", r"\1", value)
        out.append(f"{oid}|{_TAGS[kind]}|{value}")
    key = lambda rec: tuple(int(p) for p in rec.split("|", 1)[0].split("."))  # noqa: E731
    return sorted(out, key=key)


if __name__ == "__main__":
    sys.stdout.write("\n".join(convert(sys.stdin.readlines())) + "\n")
