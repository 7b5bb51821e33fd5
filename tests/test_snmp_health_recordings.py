"""Every SNMP health value pantau exports for recordings of real devices (issue #16).

Each recording under tests/data/snmp/third_party/librenms/ (LibreNMS, GPL-3.0-or-later, test data
only: see the README there) is served by snmpsim on 127.0.0.1 and polled by pantau's SNMP probe
(v2c, ``health = ["auto"]``: tables chosen by the device's sysObjectID), the real agent code path.
The test computes every value it expects from the ``.snmprec`` file itself, with its own reading of
the health contract (docs/contracts.md "SNMP health"; agent/snmp/health/spec.py), never with
pantau's evaluation; the numeric OIDs come from the compiled MIB modules (generated data), and
test_snmp_health_optics_cellular_vsat.py checks those against the MIB texts' numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from snmp_peers import DATA, Snmpsim, free_udp_port
from test_snmp_probe import job, prober

from pantau.agent.snmp.health.exposition import TABLE_UP, metric_names
from pantau.agent.snmp.health.registry import tables
from pantau.agent.snmp.health.spec import Metric, Table

pytestmark = pytest.mark.skipif(
    shutil.which("snmpget") is None, reason="net-snmp snmpget not installed (waits for snmpsim)"
)

RECORDINGS = DATA / "third_party" / "librenms"
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)

#: The tables each recording must answer with at least one value (what the README says each
#: recording is kept for). Tables that match a recording but are not listed are compared too.
COVERS: dict[str, set[str]] = {
    "airos-af-ltu": {"ubnt-ltu"},
    "airos-af": {"ubnt-airfiber"},
    "airos-af60_v3.4": set(),  # AF60 (UBNT-AF60-MIB): no pantau table yet, see the report
    "airos_airos8": {"ubnt-airmax"},
    "aix_net-snmp": {"host-resources-cpu", "host-resources-memory"},
    "apc_smt750x-nmc2": {"apc-powernet"},
    "apc_smx750i": {"apc-powernet"},
    "cetpower": {"ups-mib", "ups-mib-input"},
    "cyberpower_pr2200rt2uc": {"ups-mib", "ups-mib-input"},
    "epmp": {"cambium-epmp"},
    "mimosa_b5": {"mimosa-b5"},
    "panos_sensors_1": {"entity-sensor-temperature"},
    "pepwave": {"peplink-cellular", "peplink-wan"},
    "pmp_450i": {"cambium-pmp", "cambium-pmp-links"},
    "ptp670": {"cambium-ptp670"},
    "routeros": {"mikrotik-wireless", "mikrotik-wireless-ap", "mikrotik-optics", "mikrotik-power"},
    "routeros_crs317": {"host-resources-cpu"},
    "routeros_ltap-mini": {"mikrotik-lte", "mikrotik-wireless-ap"},
    "routeros_rblhgr": {"mikrotik-lte", "host-resources-cpu"},
    "smartax": {"huawei-gpon-olt-optics"},
    "uhp": {"uhp-terminal"},
    "vsolution_v1600d": {"vsol-pon-transceiver", "vsol-onu-optics"},
    "zxa10_c320v2": {"zte-pon-onu-olt-rx"},
}

#: What each unit can physically be: a value outside is a device's "no reading" code (Peplink
#: -9999, Huawei 2147483647, an RSSI of 0 dBm) exported as if it were a reading.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "pantau_radio_signal_dbm": (-120, -10),
    "pantau_radio_noise_dbm": (-130, -50),
    "pantau_radio_snr_db": (-10, 90),
    "pantau_radio_ccq_ratio": (0, 1),
    "pantau_radio_tx_rate_bps": (0, 40e9),
    "pantau_radio_rx_rate_bps": (0, 40e9),
    "pantau_radio_capacity_bps": (0, 40e9),
    "pantau_radio_clients": (0, 5000),
    "pantau_radio_tx_power_dbm": (-40, 40),
    "pantau_radio_link_up": (0, 1),
    "pantau_radio_beacons_received_ratio": (0, 1),
    "pantau_ups_on_battery": (0, 1),
    "pantau_ups_battery_charge_ratio": (0, 1),
    "pantau_ups_runtime_seconds": (0, 30 * 86400),
    "pantau_ups_input_voltage_volts": (0, 500),
    "pantau_device_voltage_volts": (0, 100),
    "pantau_pon_onu_up": (0, 1),
    "pantau_optic_rx_power_dbm": (-45, 15),
    "pantau_optic_tx_power_dbm": (-45, 15),
    "pantau_pon_olt_rx_power_dbm": (-45, 15),
    "pantau_lte_rsrp_dbm": (-156, -31),
    "pantau_lte_rsrq_db": (-43, 20),
    "pantau_lte_sinr_db": (-23, 50),
    "pantau_lte_rssi_dbm": (-125, -25),
    "pantau_cellular_wan_up": (0, 1),
    "pantau_device_cpu_ratio": (0, 1),
    "pantau_device_memory_used_ratio": (0, 1),
    "pantau_device_temperature_celsius": (-40, 150),
    "pantau_vsat_esno_db": (-10, 40),
    "pantau_vsat_cn_db": (-10, 40),
    "pantau_vsat_locked": (0, 1),
    TABLE_UP: (0, 1),
}

# --- the recording, read by the test --------------------------------------------------------

Value = int | bytes | tuple[int, ...] | None
_INTEGER_TAGS = {"2", "65", "66", "67", "70"}


def _oid(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().strip(".").split("."))


def read_snmprec(path: Path) -> dict[tuple[int, ...], Value]:
    """OID -> value as an SNMP manager receives it (int, bytes, OID tuple; None for others)."""
    out: dict[tuple[int, ...], Value] = {}
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if line.count("|") < 2:
            continue
        oid, tag, value = line.split("|", 2)
        if tag in _INTEGER_TAGS:
            out[_oid(oid)] = int(value)
        elif tag == "4":
            out[_oid(oid)] = value.encode("utf-8", "surrogateescape")
        elif tag == "4x":
            out[_oid(oid)] = bytes.fromhex(value)
        elif tag == "6":
            out[_oid(oid)] = _oid(value)
        else:
            out[_oid(oid)] = None
    return out


_ANONYMISED_HEX = re.compile(r"^([^|]+\|4x\|)(.*)$", re.M)


def served_copy(src: Path, dest: Path) -> Path:
    """The file as snmpsim can serve it: hex values anonymised with letters (``346288XXYYZZ``)
    get zeros instead (FIELD-NOTES; snmpsim 1.2.2 stops a walk at such a value). Nothing else
    changes; the expected values are read from this served copy."""

    def fix(match: re.Match[str]) -> str:
        return match.group(1) + re.sub(r"[^0-9A-Fa-f]", "0", match.group(2))

    text = src.read_text(encoding="utf-8", errors="surrogateescape")
    dest.write_text(_ANONYMISED_HEX.sub(fix, text), encoding="utf-8", errors="surrogateescape")
    return dest


# --- the health contract, computed independently ----------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DBM = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*dbm", re.I)


def compiled_oid(name: str) -> tuple[int, ...]:
    mib, _, obj = name.partition("::")
    module = importlib.import_module(
        "pantau.agent.snmp.health.compiled." + re.sub(r"[^a-z0-9]", "_", mib.lower())
    )
    return _oid(module.OIDS[obj])


def _names(table: Table) -> set[str]:
    names = {*table.labels.values(), *table.where}
    for m in table.metrics:
        names |= {n for n in (m.oid, m.divide_by, m.precision, m.exponent) if n}
    return names


def table_rows(table: Table, rec: Mapping[tuple[int, ...], Value]) -> dict[tuple[int, ...], dict]:
    rows: dict[tuple[int, ...], dict[str, Value]] = {}
    instance = {m.oid: m.instance for m in table.metrics}
    for name in _names(table):
        oid = compiled_oid(name)
        if not table.index_label:
            if rec.get((*oid, 0)) is not None:
                rows.setdefault((), {})[name] = rec[(*oid, 0)]
            continue
        tail = instance.get(name, ())
        for key, value in rec.items():
            if len(key) > len(oid) and key[: len(oid)] == oid and value is not None:
                index = key[len(oid) :]
                if tail:  # the column is indexed row.instance (Metric.instance)
                    if len(index) <= len(tail) or index[-len(tail) :] != tail:
                        continue
                    index = index[: -len(tail)]
                rows.setdefault(index, {})[name] = value
    return rows


def index_text(table: Table, index: tuple[int, ...]) -> str:
    """The index label as docs/contracts.md gives it: dotted, or a ZTE ONU's name where the packed
    index decodes (agent/snmp/health/indexes.py's rules, written out again here)."""
    dotted = ".".join(map(str, index))
    if len(index) != 2:
        return dotted
    port, onu = index
    packed = f"{port:08x}"
    slot, pon = port // 65536 % 256, port // 256 % 256
    # zte_gpon_onu: type 1, shelf 0 (CLI shelf 1), slot, port, reserved 0
    v1 = packed[:2] == "10" and packed[6:] == "00" and slot and pon and 0 < onu < 256
    if table.index_format == "zte_gpon_onu" and v1:
        return f"gpon-onu_1/{slot}/{pon}:{onu}"
    if table.index_format == "zte_pon_onu" and packed[:2] == "11":  # 0x11, shelf, slot, port
        shelf, slot, pon = slot, pon, port % 256
        if shelf and slot and pon and 0 < onu < 256:
            return f"{shelf}/{slot}/{pon}:{onu}"
    return dotted


def label_text(value: Value) -> str | None:
    if isinstance(value, bytes):
        s = value.decode("utf-8", "replace")
        if s.isprintable():
            return s
        controls_blank = "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in s)
        return " ".join(controls_blank.split())
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    return None


def number(metric: Metric, row: Mapping[str, Value]) -> float | None:
    raw = row.get(metric.oid)
    x: float | None
    if metric.parse == "text_dbm":
        found = _DBM.search(raw.decode("utf-8", "replace")) if isinstance(raw, bytes) else None
        x = float(found.group(1)) if found else None
    elif metric.parse == "text_number" and isinstance(raw, bytes):
        found = _NUMBER.search(raw.decode("utf-8", "replace"))
        x = float(found.group()) if found else None
    elif not isinstance(raw, int):
        x = None
    elif metric.parse == "enum":
        assert metric.enum is not None
        x = metric.enum.get(raw)
    else:
        x = float(raw)
    if x is None or x in metric.missing:
        return None
    if metric.divide_by:
        d = row.get(metric.divide_by)
        if not isinstance(d, int) or d == 0:
            return None
        x /= d
    if metric.precision:
        p = row.get(metric.precision)
        if not isinstance(p, int) or not -8 <= p <= 9:
            return None
        x /= 10**p
    if metric.exponent:
        e = row.get(metric.exponent)
        if not isinstance(e, int) or not 1 <= e <= 17:
            return None
        x *= 10.0 ** (3 * (e - 9))
    return x * metric.scale + metric.offset


def where_key(value: Value) -> int | str | None:
    return value if isinstance(value, int) else label_text(value)


Series = tuple[str, tuple[tuple[str, str], ...]]


def expected(rec: Mapping[tuple[int, ...], Value]) -> tuple[dict[Series, float], dict, dict]:
    """(samples, table_up, samples per table) the contract gives for one recording."""
    sys_oid = rec.get(SYS_OBJECT_ID)
    assert isinstance(sys_oid, tuple), "the recording has no sysObjectID.0"
    samples: dict[Series, float] = {}
    up: dict[str, float] = {}
    per_table: dict[str, int] = {}
    all_tables = [r.table for r in tables()]
    # vendor tables (with match) first: a series two tables give is the vendor's
    for table in sorted(all_tables, key=lambda t: (not t.match, t.family, t.name)):
        matched = any(sys_oid[: len(_oid(m))] == _oid(m) for m in table.match)
        if table.match and not matched:
            continue
        rows = table_rows(table, rec)
        metric_oids = {m.oid for m in table.metrics}
        answered = any(metric_oids & row.keys() for row in rows.values())
        if answered or (matched and table.expect):
            up[table.name] = 1.0 if answered else 0.0
        got: dict[Series, float] = {}
        means: dict[Series, list[float]] = {}
        for suffix, row in rows.items():
            if not all(where_key(row.get(n)) in ok for n, ok in table.where.items()):
                continue
            labels = [(table.index_label, index_text(table, suffix))] if table.index_label else []
            for label, name in table.labels.items():
                if (t := label_text(row.get(name))) is not None:
                    labels.append((label, t))
            for metric in table.metrics:
                x = number(metric, row)
                if x is None:
                    continue
                if metric.aggregate == "mean":
                    key = (metric.name, tuple(sorted(metric.const_labels)))
                    means.setdefault(key, []).append(x)
                else:
                    # the first metric of a name in a table wins (upsHighPrec before upsAdv)
                    got.setdefault((metric.name, tuple(sorted([*labels, *metric.const_labels]))), x)
        got |= {key: sum(v) / len(v) for key, v in means.items()}
        per_table[table.name] = len(got)
        for key, x in got.items():
            samples.setdefault(key, x)
    return samples, up, per_table


# --- serving and polling -----------------------------------------------------------------------


def recordings() -> dict[str, Path]:
    found = {p.stem: p for p in sorted(RECORDINGS.glob("*.snmprec"))}
    # snmpsim is ready when the first community answers sysUpTime.0
    return {"uhp": found.pop("uhp"), **found}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Snmpsim, dict[str, Path]]]:
    if os.geteuid() != 0:
        pytest.skip("snmpsim refuses root and must drop to nobody: the test needs root")
    folder = tmp_path_factory.mktemp("served")
    copies = {name: served_copy(p, folder / p.name) for name, p in recordings().items()}
    peer = Snmpsim(free_udp_port(), copies)
    try:
        yield peer.start(), copies
    finally:
        peer.stop()


POLLS = (1, 2)  # the first, full poll; then a steady one (static rows read by GET, not walked)


@pytest.fixture(scope="module")
def exported_polls(
    served: tuple[Snmpsim, dict[str, Path]],
) -> dict[int, dict[str, dict[Series, float]]]:
    """Every health sample of each poll of every recording, by poll and site (= recording)."""
    sim, copies = served
    profile = {"version": "2c", "port": sim.port, "timeout": 5.0, "retries": 2}
    profiles = {
        name: {**profile, "community": name, "max_repetitions": 10, "health": ["auto"]}
        for name in copies
    }
    snmp, registry = prober(profiles, timeout=60.0, max_in_flight=4)
    names = {*metric_names(), TABLE_UP}

    def collect() -> dict[str, dict[Series, float]]:
        out: dict[str, dict[Series, float]] = {name: {} for name in copies}
        for family in registry.collect():
            for s in family.samples:
                if s.name in names:
                    labels = {k: v for k, v in s.labels.items() if k != "site"}
                    out[s.labels["site"]][(s.name, tuple(sorted(labels.items())))] = s.value
        return out

    async def poll() -> dict[int, dict[str, dict[Series, float]]]:
        got = {}
        try:
            for n in POLLS:
                results = await snmp.run([job(name, name) for name in copies])
                failed = {site: r.message for (site, _), r in results.items() if not r.ok}
                assert not failed, (n, failed)
                got[n] = collect()
        finally:
            await snmp.aclose()
        return got

    return asyncio.run(poll())


def test_every_recording_is_covered() -> None:
    assert set(COVERS) == set(recordings()), "a recording without its COVERS entry, or the reverse"
    known = {r.table.name for r in tables()}
    assert set().union(*COVERS.values()) <= known
    families = {r.table.family for r in tables() if r.table.name in set().union(*COVERS.values())}
    assert families == {"radio", "power", "optics", "cellular", "device", "vsat"}


@pytest.mark.parametrize("poll", POLLS)
@pytest.mark.parametrize("name", sorted(COVERS))
def test_every_exported_value_is_the_recordings(
    name: str,
    poll: int,
    served: tuple[Snmpsim, dict[str, Path]],
    exported_polls: dict[int, dict[str, dict[Series, float]]],
) -> None:
    rec = read_snmprec(served[1][name])
    samples, up, per_table = expected(rec)
    silent = sorted(t for t in COVERS[name] if not per_table.get(t))
    assert not silent, f"{name}: the recording yields no value for {silent}"
    want = {**samples, **{(TABLE_UP, (("table", t),)): v for t, v in up.items()}}
    got = exported_polls[poll][name]
    assert sorted(got) == sorted(want), (
        f"{name} poll {poll}: exported series differ from the recording's"
    )
    wrong = {
        key: (got[key], want[key])
        for key in want
        if not math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-9)
    }
    assert not wrong, f"{name} poll {poll}: exported != recording: {wrong}"


def test_no_exported_value_is_a_no_reading_code(
    exported_polls: dict[int, dict[str, dict[Series, float]]],
) -> None:
    exported = {f"{site} poll {n}": v for n, by in exported_polls.items() for site, v in by.items()}
    unknown = {name for series in exported.values() for name, _ in series} - set(PLAUSIBLE)
    assert not unknown, f"give these metrics a plausible range: {sorted(unknown)}"
    outside = {
        (site, name, labels): value
        for site, series in exported.items()
        for (name, labels), value in series.items()
        if not PLAUSIBLE[name][0] <= value <= PLAUSIBLE[name][1]
    }
    assert not outside, outside


def test_served_copy_zeroes_only_anonymised_hex(tmp_path: Path) -> None:
    src = tmp_path / "in.snmprec"
    src.write_text(
        "1.3.6.1.2.1.2.2.1.6.1|4x|346288XXYYZZ\n"
        "1.3.6.1.2.1.2.2.1.6.2|4x|00804870703F\n"
        "1.3.6.1.2.1.1.5.0|4|XXYYZZ-tower\n"
    )
    served = read_snmprec(served_copy(src, tmp_path / "out.snmprec"))
    assert served == {
        (1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1): bytes.fromhex("346288000000"),
        (1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 2): bytes.fromhex("00804870703F"),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): b"XXYYZZ-tower",
    }


def test_every_recording_has_its_provenance_in_the_readme() -> None:
    """Third-party data is kept only with its source, commit, licence and checksum."""
    readme = (RECORDINGS / "README.md").read_text(encoding="utf-8")
    assert "GPL-3.0-or-later" in readme and "librenms/librenms" in readme
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^\| `([^`]+\.snmprec)` \|[^|]*\| ([0-9a-f]{40}) \| ([0-9a-f]{16}) \|", readme, re.M
        )
    }
    files = {p.name: p for p in RECORDINGS.glob("*.snmprec")}
    assert set(rows) == set(files), "README rows and recording files differ"
    for name, (_, digest) in rows.items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest()[:16] == digest, name
