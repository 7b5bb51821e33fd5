"""The optics, cellular and VSAT health tables: what each device's raw answer becomes.

Pure tests of the tables as declared (agent/snmp/health/families/{optics,cellular,vsat}.py) through
pantau's evaluation, with raw values as devices send them: text with units, tenths and hundredths,
enumerations and each vendor's "no reading" code. The real devices' answers are compared in
test_snmp_health_recordings.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from healthtables import chosen, table, value

from pantau.agent.snmp.health import indexes
from pantau.agent.snmp.health.compiled import resolve
from pantau.agent.snmp.health.evaluate import table_samples
from pantau.agent.snmp.health.registry import plan, resolve_table

RECORDINGS = Path(__file__).parent / "data" / "snmp" / "third_party" / "librenms"


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


@pytest.mark.parametrize(
    ("raw", "want"), [(7654, -23.46), (10000, 0.0), (2147483647, None), (-2147483648, None)]
)
def test_huawei_olt_rx_from_ont_is_node_value_minus_10000_in_hundredths(
    raw: int, want: float | None
) -> None:
    oid = "HUAWEI-XPON-MIB::hwGponOntOpticalDdmOltRxOntPower"
    got = value("huawei-gpon-ont", oid, raw)
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
    zte = {"zte-gpon-onu", "zte-pon-onu-olt-rx"}
    assert ours("1.3.6.1.4.1.3902.1082.1001.320.2.1") == zte  # ZXA10 C320
    assert ours("1.3.6.1.4.1.39020.1") == set()  # another enterprise, not ZTE
    c320 = plan((1, 3, 6, 1, 4, 1, 3902, 1082, 1001, 320, 2, 1), ("auto",))
    assert not c320.expected & zte  # ZTE switches share the prefix: never table_up 0


# ---------------------------------------------------------------- ZTE


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (3, 1.0),  # working
        (0, 0.0),  # logging
        (1, 0.0),  # los
        (2, 0.0),  # syncMib: registered, not working yet
        (4, 0.0),  # dyinggasp
        (5, 0.0),  # authFailed
        (6, 0.0),  # offline
        (7, None),  # not in the MIB: no guess
        (-1, None),
        (b"working", None),  # text where the MIB says INTEGER
    ],
)
def test_zte_phase_state_working_is_up_other_states_down(raw: object, want: float | None) -> None:
    assert value("zte-gpon-onu", "ZXGPON-SERVICE-MIB::zxGponOntPhaseState", raw) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (3459, -23.082),  # values public tools read from live C300s
        (5519, -18.962),
        (4600, -20.8),
        (15000, 0.0),
        (0, -30.0),
        (65535, None),  # an ONU that is not working
        (2147483647, None),
    ],
)
def test_zte_onu_rx_power_is_raw_times_0_002_minus_30(raw: int, want: float | None) -> None:
    got = value("zte-gpon-onu", "ZXGPON-ONTMGMT-MIB::zxGponPonRxOpticalLevel", raw)
    assert got == (pytest.approx(want, abs=1e-9) if want is not None else None)


@pytest.mark.parametrize(
    ("raw", "want"),
    [(-23419, -23.419), (-36989, -36.989), (-18416, -18.416), (-80000, None), (65535000, None)],
)
def test_zte_olt_rx_power_in_thousandths_and_no_signal_codes(raw: int, want: float | None) -> None:
    got = value("zte-pon-onu-olt-rx", "ZTE-AN-PON-BASE-MIB::zxAnPonRxOpticalPower", raw)
    assert got == (pytest.approx(want) if want is not None else None)


@pytest.mark.parametrize(
    ("index", "want"),
    [
        ((268501248, 5), "gpon-onu_1/1/1:5"),  # 0x10010100
        ((268503040, 128), "gpon-onu_1/1/8:128"),  # 0x10010800
        ((268566784, 1), "gpon-onu_1/2/1:1"),  # 0x10020100
        ((268632320, 55), "gpon-onu_1/3/1:55"),  # 0x10030100
        ((268435456, 1), None),  # 0x10000000: an IF-MIB ifIndex of the same C320, not an OLT id
        ((268501249, 5), None),  # reserved byte set
        ((285278465, 5), None),  # the V2 tree's ifIndex (0x11...)
        ((268501248, 0), None),  # ONU ids start at 1
        ((268501248, 5, 1), None),  # three components
        ((5,), None),
    ],
)
def test_zte_gpon_onu_index_names(index: tuple[int, ...], want: str | None) -> None:
    assert indexes.zte_gpon_onu(index) == want


@pytest.mark.parametrize(
    ("index", "want"),
    [
        ((285278465, 1), "1/1/1:1"),  # 0x11010101: ifName gpon_1/1/1
        ((285278727, 29), "1/2/7:29"),  # 0x11010207: ifName gpon_1/2/7
        ((268501248, 5), None),  # the ".1012" tree's OLT id
        ((285278465, 0x30000001), None),  # ZxAnPonOnuIndex type 3: a profile, not an ONU
        ((285278465, 0), None),
        ((285212672, 3), None),  # 0x11000000: shelf, slot and port 0
    ],
)
def test_zte_pon_onu_index_names(index: tuple[int, ...], want: str | None) -> None:
    assert indexes.zte_pon_onu(index) == want


def test_an_index_that_does_not_decode_stays_dotted() -> None:
    assert indexes.label("zte_gpon_onu", (268501248, 5)) == "gpon-onu_1/1/1:5"
    assert indexes.label("zte_gpon_onu", (268501249, 5)) == "268501249.5"
    assert indexes.label("", (268501248, 5)) == "268501248.5"


def test_zte_onu_names_are_the_recorded_olts_port_names() -> None:
    """Real data: every row of zxAnPonRxOpticalPower in the recorded C320 (zxa10_c320v2) names
    its port as the same device's ifName names the row's ifIndex."""
    column = "1.3.6.1.4.1.3902.1082.500.1.2.4.2.1.2."
    if_name = "1.3.6.1.2.1.31.1.1.1.1."
    names: dict[int, str] = {}
    rows: list[tuple[int, int]] = []
    for line in (RECORDINGS / "zxa10_c320v2.snmprec").read_text().splitlines():
        oid, _, value = line.split("|", 2)
        if oid.startswith(if_name):
            names[int(oid[len(if_name) :])] = value
        elif oid.startswith(column):
            port, onu = oid[len(column) :].split(".")
            rows.append((int(port), int(onu)))
    assert len(rows) == 458
    for port, onu in rows:
        label = indexes.zte_pon_onu((port, onu))
        assert label is not None, (port, onu)
        assert f"gpon_{label.split(':')[0]}" == names[port]
        assert label.endswith(f":{onu}")


def test_a_walked_zte_table_joins_state_and_rx_of_the_same_onu() -> None:
    resolved = resolve_table(table("zte-gpon-onu"))
    state, rx, name, descr = (
        resolve(n)
        for n in (
            "ZXGPON-SERVICE-MIB::zxGponOntPhaseState",
            "ZXGPON-ONTMGMT-MIB::zxGponPonRxOpticalLevel",
            "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtName",
            "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtDescription",
        )
    )
    port = 268501248
    raw = {
        state: {(port, 5): 3, (port, 6): 1, (268501249, 7): 3},
        rx: {
            (port, 5, 1): 5519,
            (port, 6, 1): 65535,  # the ONU in LOS: no reading
            (port, 5, 2): 4000,  # not the ONU's PON port 1: not this metric's
            (port, 8): 4000,  # no PON port component
        },
        name: {(port, 5): b"kantor-desa", (port, 6): b"puskesmas"},
        descr: {(port, 5): b"Jl. Merdeka 1"},
    }
    samples, answered = table_samples(resolved, raw)
    got = {(s.name, s.labels): s.value for s in samples}
    onu5 = (
        ("description", "Jl. Merdeka 1"),
        ("onu", "gpon-onu_1/1/1:5"),
        ("onu_name", "kantor-desa"),
    )
    onu6 = (("onu", "gpon-onu_1/1/1:6"), ("onu_name", "puskesmas"))
    assert answered
    assert got == {
        ("pantau_pon_onu_up", onu5): 1.0,
        ("pantau_optic_rx_power_dbm", onu5): pytest.approx(-18.962),
        ("pantau_pon_onu_up", onu6): 0.0,
        ("pantau_pon_onu_up", (("onu", "268501249.7"),)): 1.0,  # not decodable: dotted
    }


def test_instance_needs_a_walked_table_and_one_instance_per_column() -> None:
    zte = table("zte-gpon-onu")
    with pytest.raises(ValueError, match="instance needs a walked table"):
        resolve_table(dataclasses.replace(zte, static_rows=True))
    rx = zte.metrics[1]
    twice = dataclasses.replace(zte, metrics=(*zte.metrics, dataclasses.replace(rx, instance=())))
    with pytest.raises(ValueError, match="two different instances"):
        resolve_table(twice)
    with pytest.raises(ValueError, match="index_format 'zte_v9'"):
        resolve_table(dataclasses.replace(zte, index_format="zte_v9"))
    as_label = dataclasses.replace(zte, labels={"x": "ZXGPON-ONTMGMT-MIB::zxGponPonRxOpticalLevel"})
    with pytest.raises(ValueError, match="used with and without an instance"):
        resolve_table(as_label)


#: Numeric OIDs as LibreNMS's discovery definitions (resources/definitions/os_discovery/*.yaml,
#: num_oid) and the MIB texts' OBJECT-TYPE lines give them, checked against pysmi's output.
MIB_NUMBERS = {
    "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoTxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.23.1.4",
    "HUAWEI-XPON-MIB::hwGponOltOpticsDdmInfoRxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.23.1.5",
    "HUAWEI-XPON-MIB::hwGponDeviceOntControlRunStatus": "1.3.6.1.4.1.2011.6.128.1.1.2.46.1.15",
    "HUAWEI-XPON-MIB::hwGponOntOpticalDdmRxPower": "1.3.6.1.4.1.2011.6.128.1.1.2.51.1.4",
    "HUAWEI-XPON-MIB::hwGponOntOpticalDdmOltRxOntPower": "1.3.6.1.4.1.2011.6.128.1.1.2.51.1.6",
    "V1600D::transmitPower": "1.3.6.1.4.1.37950.1.1.5.10.13.1.1.5",
    "V1600D::rxPower": "1.3.6.1.4.1.37950.1.1.5.12.2.1.8.1.7",
    "V1600D::onuAuthInfoDescription2": "1.3.6.1.4.1.37950.1.1.5.12.1.25.1.9",
    "MIKROTIK-MIB::mtxrLTEModemSignalRSRP": "1.3.6.1.4.1.14988.1.1.16.1.1.4",
    "MIKROTIK-MIB::mtxrOpticalRxPower": "1.3.6.1.4.1.14988.1.1.19.1.1.10",
    "CELLULAR::cellularSignalRsrp": "1.3.6.1.4.1.23695.200.1.12.1.1.1.7",
    "WAN::wanState": "1.3.6.1.4.1.23695.2.1.2.1.3",
    "UHP-MIB::lbandSNR1": "1.3.6.1.4.1.8000.22.2.1",
    "UHP-MIB::netState": "1.3.6.1.4.1.8000.22.5.2.1",
    # ZTE: the OIDs public ZTE OLT tools read (zxGponOntPhaseState, ONU name/description, ONU rx
    # power) and LibreNMS's zxa10 discovery of PR 14049 (num_oid of zxAnPonRxOpticalPower)
    "ZXGPON-SERVICE-MIB::zxGponOntPhaseState": "1.3.6.1.4.1.3902.1012.3.28.2.1.4",
    "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtName": "1.3.6.1.4.1.3902.1012.3.28.1.1.2",
    "ZXGPON-SERVICE-MIB::zxGponOntDevMgmtDescription": "1.3.6.1.4.1.3902.1012.3.28.1.1.3",
    "ZXGPON-ONTMGMT-MIB::zxGponPonRxOpticalLevel": "1.3.6.1.4.1.3902.1012.3.50.12.1.1.10",
    "ZTE-AN-PON-BASE-MIB::zxAnPonRxOpticalPower": "1.3.6.1.4.1.3902.1082.500.1.2.4.2.1.2",
}


@pytest.mark.parametrize(("name", "numeric"), sorted(MIB_NUMBERS.items()))
def test_compiled_oids_are_the_mibs(name: str, numeric: str) -> None:
    assert ".".join(map(str, resolve(name))) == numeric
