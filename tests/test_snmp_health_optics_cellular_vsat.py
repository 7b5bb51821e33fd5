"""The optics, cellular and VSAT health tables: what each device's raw answer becomes.

Pure tests of the tables as declared (agent/snmp/health/families/{optics,cellular,vsat}.py) through
pantau's evaluation, with raw values as devices send them: text with units, tenths and hundredths,
enumerations and each vendor's "no reading" code. The real devices' answers are compared in
test_snmp_health_recordings.py.
"""

from __future__ import annotations

import pytest
from healthtables import chosen, table, value

from pantau.agent.snmp.health.compiled import resolve
from pantau.agent.snmp.health.evaluate import table_samples
from pantau.agent.snmp.health.registry import resolve_table


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"0.03 mW (-14.61 dBm)", -14.61),  # V1600D ONU rx: the dBm figure, not the mW one
        (b"2.38 mW (3.77 dBm)", 3.77),
        (b"0.00 mW (-28.24 dBm)", -28.24),
        (b"6.56 dbm", 6.56),  # the PON transceiver's own spelling
        (b"0.00 mW", None),  # no dBm figure: no reading
        (b"", None),
        (b"N/A", None),
        (-1424, None),  # a number where the MIB says text
    ],
)
def test_vsol_optical_power_is_read_from_its_text(raw: object, want: float | None) -> None:
    assert value("vsol-onu-optics", "V1600D::rxPower", raw) == (
        pytest.approx(want) if want is not None else None
    )


def test_vsol_transceiver_tx_power_text() -> None:
    assert value("vsol-pon-transceiver", "V1600D::transmitPower", b"6.66 dbm") == pytest.approx(
        6.66
    )


@pytest.mark.parametrize(
    ("raw", "want"),
    [(711, 7.11), (-2317, -23.17), (0, 0.0), (2147483647, None), (-2147483648, None)],
)
def test_huawei_gpon_power_in_hundredths_and_invalid_code(raw: int, want: float | None) -> None:
    oid = "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoRxPower"
    got = value("huawei-gpon-olt-optics", oid, raw)
    assert got == (pytest.approx(want) if want is not None else None)
    got = value("huawei-gpon-ont", "HUAWEI-XPON-MIB::hwGponOntOpticalDdmRxPower", raw)
    assert got == (pytest.approx(want) if want is not None else None)


@pytest.mark.parametrize(("raw", "want"), [(1, 1.0), (2, 0.0), (-1, None), (3, None)])
def test_huawei_ont_run_status(raw: int, want: float | None) -> None:
    oid = "HUAWEI-XPON-MIB::hwGponDeviceOntControlRunStatus"
    assert value("huawei-gpon-ont", oid, raw) == want


@pytest.mark.parametrize(("raw", "want"), [(-5673, -5.673), (-12345, -12.345), (0, None)])
def test_mikrotik_sfp_power_in_thousandths_zero_without_dom(raw: int, want: float | None) -> None:
    got = value("mikrotik-optics", "MIKROTIK-MIB::mtxrOpticalRxPower", raw)
    assert got == (pytest.approx(want) if want is not None else None)


@pytest.mark.parametrize(
    ("oid", "raw", "want"),
    [
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSRP", -105, -105.0),
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSRP", 0, None),
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSRQ", -10, -10.0),
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSRQ", 0, None),
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSSI", 0, None),  # the LtAP mini's answer
        ("MIKROTIK-MIB::mtxrLTEModemSignalRSSI", -71, -71.0),
        ("MIKROTIK-MIB::mtxrLTEModemSignalSINR", 0, 0.0),  # 0 dB SINR is a reading
        ("MIKROTIK-MIB::mtxrLTEModemSignalSINR", -3, -3.0),
    ],
)
def test_mikrotik_lte_zero_is_no_reading_except_sinr(
    oid: str, raw: int, want: float | None
) -> None:
    assert value("mikrotik-lte", oid, raw) == want


@pytest.mark.parametrize(
    "oid",
    [
        "CELLULAR::cellularSignalRsrp",
        "CELLULAR::cellularSignalRsrq",
        "CELLULAR::cellularSignalSinr",
        "CELLULAR::cellularSignalRssi",
    ],
)
def test_peplink_not_applicable_is_absent(oid: str) -> None:
    assert value("peplink-cellular", oid, -9999) is None
    assert value("peplink-cellular", oid, -13) == -13.0


@pytest.mark.parametrize(
    ("state", "want"),
    [(3, 1.0), (2, 0.0), (4, 0.0), (5, 0.0), (6, 0.0), (7, 0.0), (8, 0.0), (1, None), (0, None)],
)
def test_peplink_wan_state(state: int, want: float | None) -> None:
    assert value("peplink-wan", "WAN::wanState", state) == want


@pytest.mark.parametrize(("raw", "want"), [(135, 13.5), (0, 0.0), (7, 0.7)])
def test_uhp_cn_in_tenths(raw: int, want: float) -> None:
    assert value("uhp-terminal", "UHP-MIB::lbandSNR1", raw) == pytest.approx(want)


@pytest.mark.parametrize(("state", "want"), [(17, 1.0), (16, 0.0), (8, 0.0), (0, 0.0), (18, None)])
def test_uhp_locked_only_in_operation(state: int, want: float | None) -> None:
    assert value("uhp-terminal", "UHP-MIB::netState", state) == want


def test_a_walked_vsol_table_gives_labelled_samples_and_skips_no_reading() -> None:
    resolved = resolve_table(table("vsol-onu-optics"))
    rx, tx, descr = (
        resolve(n)
        for n in ("V1600D::rxPower", "V1600D::txPower", "V1600D::onuAuthInfoDescription2")
    )
    raw = {
        rx: {(1, 1): b"0.03 mW (-14.61 dBm)", (1, 2): b"0.00 mW"},
        tx: {(1, 1): b"2.38 mW (3.77 dBm)", (1, 2): b"2.67 mW (4.27 dBm)"},
        descr: {(1, 1): b"kantor-desa", (1, 2): b"puskesmas"},
    }
    samples, answered, *_ = table_samples(resolved, raw)  # (rows kept, on newer framework)
    got = {(s.name, s.labels): s.value for s in samples}
    assert answered
    assert got == {
        ("pantau_optic_rx_power_dbm", (("description", "kantor-desa"), ("onu", "1.1"))): -14.61,
        ("pantau_optic_tx_power_dbm", (("description", "kantor-desa"), ("onu", "1.1"))): 3.77,
        ("pantau_optic_tx_power_dbm", (("description", "puskesmas"), ("onu", "1.2"))): 4.27,
    }


def test_tables_chosen_by_sys_object_id() -> None:
    def ours(sys_object_id: str) -> set[str]:
        return chosen(sys_object_id, "optics", "cellular", "vsat")

    assert ours("1.3.6.1.4.1.2011.2.123") == {"huawei-gpon-olt-optics", "huawei-gpon-ont"}
    assert ours("1.3.6.1.4.1.2011.2.23.1") == set()  # a Huawei VRP switch is no OLT
    assert ours("1.3.6.1.4.1.37950.1.1.5.10.14.1") == {"vsol-pon-transceiver", "vsol-onu-optics"}
    assert ours("1.3.6.1.4.1.14988.1") == {"mikrotik-optics", "mikrotik-lte"}
    assert ours("1.3.6.1.4.1.27662") == {"peplink-cellular", "peplink-wan"}
    assert ours("1.3.6.1.4.1.8000") == {"uhp-terminal"}
    assert ours("1.3.6.1.4.1.8072.3.2.10") == set()


#: Numeric OIDs as LibreNMS's discovery definitions (resources/definitions/os_discovery/*.yaml,
#: num_oid) and the MIB texts' OBJECT-TYPE lines give them, checked against pysmi's output.
MIB_NUMBERS = {
    "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoTxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.23.1.4",
    "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoRxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.23.1.5",
    "HUAWEI-XPON-MIB::hwGponDeviceOntControlRunStatus": "1.3.6.1.4.1.2011.6.128.1.1.2.46.1.15",
    "HUAWEI-XPON-MIB::hwGponOntOpticalDdmRxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.51.1.4",
    "V1600D::transmitPower": "1.3.6.1.4.1.37950.1.1.5.10.13.1.1.5",
    "V1600D::rxPower": "1.3.6.1.4.1.37950.1.1.5.12.2.1.8.1.7",
    "V1600D::onuAuthInfoDescription2": "1.3.6.1.4.1.37950.1.1.5.12.1.25.1.9",
    "MIKROTIK-MIB::mtxrLTEModemSignalRSRP": "1.3.6.1.4.1.14988.1.1.16.1.1.4",
    "MIKROTIK-MIB::mtxrOpticalRxPower": "1.3.6.1.4.1.14988.1.1.19.1.1.10",
    "CELLULAR::cellularSignalRsrp": "1.3.6.1.4.1.23695.200.1.12.1.1.1.7",
    "WAN::wanState": "1.3.6.1.4.1.23695.2.1.2.1.3",
    "UHP-MIB::lbandSNR1": "1.3.6.1.4.1.8000.22.2.1",
    "UHP-MIB::netState": "1.3.6.1.4.1.8000.22.5.2.1",
}


@pytest.mark.parametrize(("name", "numeric"), sorted(MIB_NUMBERS.items()))
def test_compiled_oids_are_the_mibs(name: str, numeric: str) -> None:
    assert ".".join(map(str, resolve(name))) == numeric
