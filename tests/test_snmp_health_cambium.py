"""The Cambium PMP 450 and PTP 670 radio tables: what each device's raw answer becomes.

Pure tests of the tables as declared (agent/snmp/health/families/radio.py) through pantau's
evaluation, with raw values as the devices send them: PMP 450 receive powers as text ("-59.9"),
the horizontal SNR 0 of MIMO-A, PTP 670 tenths of dBm. The real devices' answers (LibreNMS
recordings pmp_450i and ptp670) are compared in test_snmp_health_recordings.py.
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

    assert cambium("1.3.6.1.4.1.161.19.250.256") == {"cambium-pmp", "cambium-pmp-links"}
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
}


@pytest.mark.parametrize(("name", "numeric"), sorted(MIB_NUMBERS.items()))
def test_compiled_oids_are_the_mibs(name: str, numeric: str) -> None:
    assert ".".join(map(str, resolve(name))) == numeric
