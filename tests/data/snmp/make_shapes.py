"""Write the small `.snmprec` files that reproduce real devices' IF-MIB shapes (issue #16).

Each file is made here, by hand, after the shape a real device was reported to have; none is a
recording of that device (README.md says which shape each one reproduces). Run from anywhere:
``python3 tests/data/snmp/make_shapes.py`` rewrites the files next to this script.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SYS, IF, IFX = "1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
CATALYST_DESCR = (
    "Cisco IOS Software [Bengaluru], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.6.4,"
    " RELEASE SOFTWARE (fc1)\r\nTechnical Support: http://www.cisco.com/techsupport\r\n"
    "Copyright (c) 1986-2022 by Cisco Systems, Inc.\r\nCompiled Sun 14-Aug-22 08:21 by mcpre"
)


def _text(value: str) -> str:
    return f"4x|{value.encode().hex()}"


def _system(descr: str, name: str, object_id: str, uptime: int) -> dict[str, str]:
    return {
        f"{SYS}.1.0": _text(descr),
        f"{SYS}.2.0": f"6|{object_id}",
        f"{SYS}.3.0": f"67|{uptime}",
        f"{SYS}.5.0": _text(name),
    }


def _if_row(
    index: int,
    descr: str,
    iftype: int,
    speed: int,
    oper: int = 1,
    last_change: int = 0,
    octets: tuple[int, int] = (0, 0),
) -> dict[str, str]:
    row = {2: _text(descr), 3: f"2|{iftype}", 5: f"66|{speed}", 7: "2|1", 8: f"2|{oper}"}
    row |= {9: f"67|{last_change}", 10: f"65|{octets[0]}", 16: f"65|{octets[1]}"}
    row |= {13: "65|0", 14: "65|0", 19: "65|0", 20: "65|0", 1: f"2|{index}"}
    return {f"{IF}.{col}.{index}": value for col, value in row.items()}


def _ifx_row(
    index: int,
    name: str | None,
    high_speed: int,
    hc: tuple[int, int] | None,
    alias: str = "",
) -> dict[str, str]:
    row = {15: f"66|{high_speed}", 18: _text(alias)}
    if name is not None:
        row[1] = _text(name)
    if hc is not None:
        row |= {6: f"70|{hc[0]}", 10: f"70|{hc[1]}"}
    return {f"{IFX}.{col}.{index}": value for col, value in row.items()}


def catalyst() -> dict[str, str]:
    """A Catalyst 9300 shape: 19 rows, 17 of them (the management port GigabitEthernet0/0, the
    VLAN SVIs, Null0, ...) without ifHCInOctets/ifHCOutOctets; sysDescr with CR LF; flaps."""
    out = _system(CATALYST_DESCR, "c9300-diskominfo", "1.3.6.1.4.1.9.1.2494", 360_000_00)
    for index in range(1, 20):
        if index == 1:
            name, iftype, speed, hs = "Gi0/0", 6, 1_000_000_000, 1000  # management port
        elif index <= 3:
            name, iftype, speed, hs = f"Te1/1/{index - 1}", 6, 2**32 - 1, 10_000
        elif index == 4:
            name, iftype, speed, hs = "Nu0", 1, 0, 0
        else:
            name, iftype, speed, hs = f"Vl{index * 10}", 53, 1_000_000_000, 1000
        octets = (1_000 * index + 7, 2_000 * index + 9)
        hc = (10**12 + index, 2 * 10**12 + index) if index in (2, 3) else None
        last_change = 1_234_500 + index if index in (1, 2) else 0
        oper = 2 if index == 19 else 1
        out |= _if_row(index, name, iftype, speed, oper, last_change, octets)
        out |= _ifx_row(index, name, hs, hc, alias="uplink-kominfo" if index == 2 else "")
    return out


def unifi() -> dict[str, str]:
    """A UniFi switch shape: ifTable rows 1-4, ifXTable rows 101-103 (other ifIndex values)."""
    out = _system("US-8-60W, 6.5.59.14777, Linux 3.6.5", "usw-lantai2", "1.3.6.1.4.1.41112", 99)
    for index in range(1, 5):
        out |= _if_row(index, f"Port {index}", 6, 1_000_000_000, octets=(100 + index, 200))
    for index in range(101, 104):
        out |= _ifx_row(index, f"eth{index - 101}", 1000, (5_000 + index, 6_000))
    return out


def cambium() -> dict[str, str]:
    """A Cambium CMM shape: ifXTable with counters and speeds but no ifName column."""
    out = _system("CMM5 Power Injector 1.0.5", "cmm-bts-gunung", "1.3.6.1.4.1.17713.21", 4242)
    for index, descr in ((1, "eth0"), (2, "eth1")):
        out |= _if_row(index, descr, 6, 1_000_000_000, octets=(10, 20))
        out |= _ifx_row(index, None, 1000, (700 + index, 800 + index))
    return out


def speeds() -> dict[str, str]:
    """Speeds as devices answer them: an Aerohive AP's 1 Gbit/s port with ifHighSpeed 0 (row 1),
    a radio whose ifHighSpeed is in bit/s (rows 2 and 3), a virtual interface with 0 in both (4)."""
    out = _system("HiveOS AP230 10.0r8 build-236132", "ap-balai-desa", "1.3.6.1.4.1.26928.1", 777)
    rows = (
        (1, "eth0", 1_000_000_000, 0),
        (2, "wifi0", 300_000_000, 300_000_000),
        (3, "wifi1", 2**32 - 1, 1_300_000_000),
        (4, "mgt0", 0, 0),
    )
    for index, name, speed, high_speed in rows:
        out |= _if_row(index, name, 71 if name.startswith("wifi") else 6, speed)
        out |= _ifx_row(index, name, high_speed, (index, index))
    return out


def write(name: str, records: dict[str, str]) -> None:
    def key(oid: str) -> tuple[int, ...]:
        return tuple(int(part) for part in oid.split("."))

    lines = [f"{oid}|{records[oid]}\n" for oid in sorted(records, key=key)]
    (HERE / f"{name}.snmprec").write_text("".join(lines))


if __name__ == "__main__":
    write("catalyst-partial-hc", catalyst())
    write("unifi-split-index", unifi())
    write("cambium-no-ifname", cambium())
    write("speed-quirks", speeds())
