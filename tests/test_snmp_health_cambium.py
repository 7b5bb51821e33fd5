"""The Cambium PMP 450 and PTP 670 radio tables: what each device's raw answer becomes.

Pure tests of the tables as declared (agent/snmp/health/families/radio.py) through pantau's
evaluation, with raw values as the devices send them: PMP 450 receive powers as text ("-59.9"),
the horizontal SNR 0 of MIMO-A, the SM's session as its modulation rate (0 = no session), PTP 670
tenths of dBm. The real devices' answers (LibreNMS recordings pmp_450i and ptp670) are
compared in test_snmp_health_recordings.py; no public recording of a PMP 450 SM was found, so the
SM table (cambium-pmp-sm) is checked here only, against the WHISP-SM-MIB text.
"""

from __future__ import annotations

import pytest
from healthtables import chosen, table, value

from pantau.agent.snmp.health.compiled import resolve
from pantau.agent.snmp.health.evaluate import table_samples
from pantau.agent.snmp.health.registry import plan, resolve_table


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (b"-59.9", -59.9),  # the pmp_450i recording's answer
        (b"-63.0", -63.0),
        (b"-101", -101.0),
        (b"", None),  # no reading
        (b"N/A", None),
        (-60, -60.0),  # a firmware answering an INTEGER: the number as is
    ],
)
def test_pmp_receive_power_is_read_from_its_text(raw: object, want: float | None) -> None:
    for oid in (
        "WHISP-APS-MIB::lastPowerLevel",
        "WHISP-APS-MIB::linkRadioDbmVertical",
        "WHISP-APS-MIB::linkRadioDbmHorizontal",
    ):
        got = value("cambium-pmp-links", oid, raw)
        assert got == (pytest.approx(want) if want is not None else None), oid


def test_pmp_horizontal_snr_zero_is_mimo_a_not_a_reading() -> None:
    # WHISP-APS-MIB: "If operating in MIMO-A this will return 0" (horizontal only)
    assert value("cambium-pmp-links", "WHISP-APS-MIB::signalToNoiseRatioHorizontal", 0) is None
    assert value("cambium-pmp-links", "WHISP-APS-MIB::signalToNoiseRatioHorizontal", 33) == 33.0
    assert value("cambium-pmp-links", "WHISP-APS-MIB::signalToNoiseRatioVertical", 20) == 20.0


@pytest.mark.parametrize(("raw", "want"), [(-528, -52.8), (-905, -90.5), (-1000, -100.0)])
def test_ptp670_receive_power_in_tenths(raw: int, want: float) -> None:
    got = value("cambium-ptp670", "CAMBIUM-PTP670-MIB::rawReceivePowerLinked", raw)
    assert got == pytest.approx(want)


@pytest.mark.parametrize(("raw", "want"), [(230, 23.0), (-5, -0.5), (0, 0.0)])
def test_ptp670_transmit_power_in_tenths(raw: int, want: float) -> None:
    # 0 dBm is a real setting of a short link, not "no reading"
    got = value("cambium-ptp670", "CAMBIUM-PTP670-MIB::transmitPowerLinked", raw)
    assert got == pytest.approx(want)


def test_ptp670_data_rates_are_not_read_as_a_link_rate() -> None:
    # pubStats "data rate" is measured traffic (the PTP user guides list it beside a separate
    # Link Capacity): exporting it as pantau_radio_capacity_bps would make an idle link look
    # degraded
    read = {m.oid for m in table("cambium-ptp670").metrics}
    assert not {o for o in read if "DataRate" in o}


@pytest.mark.parametrize(
    ("raw", "want"),
    [(0, 1.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 0.0), (5, 0.0), (6, None), (-1, None)],
    ids=["up", "registering", "searching", "acquiring", "radarCAC", "initialising", "6", "-1"],
)
def test_ptp670_link_state(raw: int, want: float | None) -> None:
    # wirelessLinkStatusLinked: up(0) is the only state passing traffic; unknown codes: no sample
    got = value("cambium-ptp670", "CAMBIUM-PTP670-MIB::wirelessLinkStatusLinked", raw)
    assert got == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [(0, 0.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (6, 1.0), (8, 1.0), (5, None), (-1, None)],
    ids=["noSession", "1X", "2X", "3X", "4X", "6X", "8X", "5", "-1"],
)
def test_pmp_sm_session_from_its_modulation_rate(raw: int, want: float | None) -> None:
    # WHISP-SM-MIB adaptRateLowPri: "0 : SM is not in session"; 5 and -1 are not in its enum
    assert value("cambium-pmp-sm", "WHISP-SM-MIB::adaptRateLowPri", raw) == want


def test_pmp_sm_snr_zero_is_no_reading_on_both_paths() -> None:
    # "Will return zero if Signal to Noise Ratio Calculation is disabled" (vertical and
    # horizontal), and the horizontal path in MIMO-A
    for path in ("Vertical", "Horizontal"):
        oid = f"WHISP-SM-MIB::signalToNoiseRatioSM{path}"
        assert value("cambium-pmp-sm", oid, 0) is None
        assert value("cambium-pmp-sm", oid, 27) == 27.0


@pytest.mark.parametrize(("raw", "want"), [(100, 1.0), (97, 0.97), (0, 0.0)])
def test_pmp_sm_beacons_received_as_a_ratio(raw: int, want: float) -> None:
    got = value("cambium-pmp-sm", "WHISP-SM-MIB::beaconsPercentReceived", raw)
    assert got == pytest.approx(want)


def test_a_pmp_sm_answer_gives_its_link_toward_the_ap() -> None:
    resolved = resolve_table(table("cambium-pmp-sm"))
    names = (
        "radioDbm",
        "radioDbmVertical",
        "radioDbmHorizontal",
        "signalToNoiseRatioSMVertical",
        "signalToNoiseRatioSMHorizontal",
        "adaptRateLowPri",
        "beaconsPercentReceived",
    )
    answers = (b"-62.5", b"-65.1", b"-66.0", 24, 0, 8, 100)  # MIMO-A: horizontal SNR 0
    raw = {
        (*resolve(f"WHISP-SM-MIB::{n}"), 0): {(): a} for n, a in zip(names, answers, strict=True)
    }
    samples, answered, *_ = table_samples(resolved, raw)
    got = {(s.name, s.labels): s.value for s in samples}
    assert answered
    sig, snr = "pantau_radio_signal_dbm", "pantau_radio_snr_db"
    assert got == {
        (sig, ()): pytest.approx(-62.5),
        (sig, (("chain", "vertical"),)): pytest.approx(-65.1),
        (sig, (("chain", "horizontal"),)): -66.0,
        (snr, (("chain", "vertical"),)): 24.0,
        ("pantau_radio_link_up", ()): 1.0,
        ("pantau_radio_beacons_received_ratio", ()): 1.0,
    }


def test_a_walked_pmp_link_table_gives_one_station_per_sm() -> None:
    resolved = resolve_table(table("cambium-pmp-links"))
    power, vertical, horizontal, snr_v, snr_h, name = (
        resolve(f"WHISP-APS-MIB::{n}")
        for n in (
            "lastPowerLevel",
            "linkRadioDbmVertical",
            "linkRadioDbmHorizontal",
            "signalToNoiseRatioVertical",
            "signalToNoiseRatioHorizontal",
            "linkSiteName",
        )
    )
    raw = {  # LUID 2 in MIMO-B (both paths); LUID 3 in MIMO-A (horizontal SNR 0)
        power: {(2,): b"-59.9", (3,): b"-71.5"},
        vertical: {(2,): b"-64.0", (3,): b"-74.0"},
        horizontal: {(2,): b"-63.0", (3,): b"-75.0"},
        snr_v: {(2,): 20, (3,): 18},
        snr_h: {(2,): 33, (3,): 0},
        name: {(2,): b"kantor-desa", (3,): b"puskesmas"},
    }
    samples, answered, *_ = table_samples(resolved, raw)
    got = {(s.name, s.labels): s.value for s in samples}
    assert answered
    sig, snr = "pantau_radio_signal_dbm", "pantau_radio_snr_db"

    def key(name: str, luid: str, site: str, chain: str = "") -> tuple[str, tuple]:
        labels = {"station": luid, "station_name": site} | ({"chain": chain} if chain else {})
        return (name, tuple(sorted(labels.items())))

    assert got == {
        key(sig, "2", "kantor-desa"): pytest.approx(-59.9),
        key(sig, "2", "kantor-desa", "vertical"): -64.0,
        key(sig, "2", "kantor-desa", "horizontal"): -63.0,
        key(snr, "2", "kantor-desa", "vertical"): 20.0,
        key(snr, "2", "kantor-desa", "horizontal"): 33.0,
        key(sig, "3", "puskesmas"): pytest.approx(-71.5),
        key(sig, "3", "puskesmas", "vertical"): -74.0,
        key(sig, "3", "puskesmas", "horizontal"): -75.0,
        key(snr, "3", "puskesmas", "vertical"): 18.0,
    }


def test_cambium_tables_chosen_by_sys_object_id() -> None:
    def cambium(sys_object_id: str) -> set[str]:
        return {n for n in chosen(sys_object_id, "radio") if n.startswith("cambium-")}

    assert cambium("1.3.6.1.4.1.161.19.250.256") == {
        "cambium-pmp",
        "cambium-pmp-links",
        "cambium-pmp-sm",  # AP and SM answer the same sysObjectID: the SM table is not expected
    }
    assert "cambium-pmp-sm" not in plan((1, 3, 6, 1, 4, 1, 161, 19, 250, 256), ("auto",)).expected
    assert cambium("1.3.6.1.4.1.17713.11") == {"cambium-ptp670"}
    assert cambium("1.3.6.1.4.1.17713.21") == {"cambium-epmp"}  # ePMP is not a PTP 670
    assert cambium("1.3.6.1.4.1.17713.7") == set()  # PTP 650: no table


#: Numeric OIDs as the MIB texts give them (WHISP-GLOBAL-REG-MIB: whispAps = 161.19.3.1,
#: whispBox = 161.19.3.3; WHISP-APS-MIB: whispLinkTable {whispAps 4}, whispApsStatus {whispAps 7};
#: CAMBIUM-PTP670-MIB: cambium {enterprises 17713}, ptp670 {cambium 11}, phyStatus {ptp670 12}),
#: and as the pmp_450i / ptp670 recordings answer them, checked against pysmi's output.
MIB_NUMBERS = {
    "WHISP-APS-MIB::lastPowerLevel": "1.3.6.1.4.1.161.19.3.1.4.1.35",
    "WHISP-APS-MIB::signalToNoiseRatioVertical": "1.3.6.1.4.1.161.19.3.1.4.1.74",
    "WHISP-APS-MIB::signalToNoiseRatioHorizontal": "1.3.6.1.4.1.161.19.3.1.4.1.84",
    "WHISP-APS-MIB::linkRadioDbmHorizontal": "1.3.6.1.4.1.161.19.3.1.4.1.87",
    "WHISP-APS-MIB::linkRadioDbmVertical": "1.3.6.1.4.1.161.19.3.1.4.1.88",
    "WHISP-APS-MIB::linkSiteName": "1.3.6.1.4.1.161.19.3.1.4.1.33",
    "WHISP-APS-MIB::regCount": "1.3.6.1.4.1.161.19.3.1.7.1",
    "WHISP-BOX-MIBV2-MIB::boxTemperatureC": "1.3.6.1.4.1.161.19.3.3.1.35",
    "CAMBIUM-PTP670-MIB::rawReceivePowerLinked": "1.3.6.1.4.1.17713.11.12.12",
    "CAMBIUM-PTP670-MIB::transmitPowerLinked": "1.3.6.1.4.1.17713.11.12.4",
    # pubStats {ptp670 20}
    "CAMBIUM-PTP670-MIB::wirelessLinkStatusLinked": "1.3.6.1.4.1.17713.11.20.5",
    # WHISP-GLOBAL-REG-MIB: whispSm = 161.19.3.2; WHISP-SM-MIB: whispSmStatus {whispSm 2}
    "WHISP-SM-MIB::radioDbm": "1.3.6.1.4.1.161.19.3.2.2.8",
    "WHISP-SM-MIB::signalToNoiseRatioSMVertical": "1.3.6.1.4.1.161.19.3.2.2.95",
    "WHISP-SM-MIB::signalToNoiseRatioSMHorizontal": "1.3.6.1.4.1.161.19.3.2.2.106",
    "WHISP-SM-MIB::radioDbmHorizontal": "1.3.6.1.4.1.161.19.3.2.2.117",
    "WHISP-SM-MIB::radioDbmVertical": "1.3.6.1.4.1.161.19.3.2.2.118",
    "WHISP-SM-MIB::adaptRateLowPri": "1.3.6.1.4.1.161.19.3.2.2.128",
    "WHISP-SM-MIB::beaconsPercentReceived": "1.3.6.1.4.1.161.19.3.2.2.139",
}


@pytest.mark.parametrize(("name", "numeric"), sorted(MIB_NUMBERS.items()))
def test_compiled_oids_are_the_mibs(name: str, numeric: str) -> None:
    assert ".".join(map(str, resolve(name))) == numeric
