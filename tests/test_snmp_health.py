"""SNMP health families power, device and radio (issue 16): the registry, the pure evaluation,
the profile setting, and polls of real snmpd and of real-device recordings served by snmpsim.

The oracle of the recording tests is the ``.snmprec`` file itself, read here line by line with
numeric OIDs and the unit rules written out by hand from each MIB's text (not the compiled
modules, not the evaluation code under test).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from snmp_peers import DATA, Snmpd, Snmpsim, free_udp_port

from pantau.agent.probes import ProbeContext, ProbeJob
from pantau.agent.probes.snmp import SnmpProber, make_prober
from pantau.agent.runtime.exposition import TextCollector
from pantau.agent.snmp.ber import GET
from pantau.agent.snmp.health import compiled, registry
from pantau.agent.snmp.health.evaluate import evaluate
from pantau.agent.snmp.health.registry import Plan, resolve_table
from pantau.agent.snmp.health.spec import Metric, Table
from pantau.agent.snmp.session import SnmpFailure, V2cSession
from pantau.config import Config, SnmpSettings, check_config

LIBRENMS = DATA / "third_party" / "librenms"
# the power, device and radio series; optics, cellular and vsat ones (routeros has an SFP) are
# compared by test_snmp_health_recordings.py
HEALTH = {
    m.name
    for r in registry.tables()
    if r.table.family in ("power", "device", "radio")
    for m in r.table.metrics
} | {"pantau_snmp_health_table_up"}


# ---------------------------------------------------------------- registry and compiled OIDs


def test_every_family_oid_resolves_through_the_compiled_modules() -> None:
    names = 0
    for resolved in registry.tables():
        table = resolved.table
        for metric in table.metrics:
            for name in (metric.oid, metric.divide_by, metric.precision, metric.exponent):
                if name:
                    assert resolved.oids[name] == compiled.resolve(name)
                    names += 1
        for name in [*table.labels.values(), *table.where]:
            assert resolved.oids[name] == compiled.resolve(name)
    assert names >= 40
    # numbers checked against the MIB texts by hand
    assert compiled.resolve("UPS-MIB::upsOutputSource") == (1, 3, 6, 1, 2, 1, 33, 1, 4, 1)
    assert compiled.resolve("MIKROTIK-MIB::mtxrHlVoltage") == (1, 3, 6, 1, 4, 1, 14988, 1, 1, 3, 8)


def test_the_compiled_modules_hold_only_what_the_tables_name() -> None:
    """scripts/compile-mibs keeps only the objects the families name (the agent imports every
    compiled module it resolves through: a whole PowerNet-MIB is 7,430 objects)."""
    named = {n for r in registry.tables() for n in r.oids}
    folder = Path(compiled.__file__).parent
    held = set()
    for path in folder.glob("*.py"):
        if path.name != "__init__.py":
            module = importlib.import_module(f"{compiled.__name__}.{path.stem}")
            held |= {f"{module.MIB}::{obj}" for obj in module.OIDS}
    assert held - named == set(), "rerun scripts/compile-mibs (see scripts/compile-mibs.SOURCES)"
    assert named <= held


def test_a_misspelt_object_fails_naming_table_and_object() -> None:
    table = Table(
        "typo",
        "power",
        (),
        "",
        {},
        (Metric("pantau_ups_on_battery", "x", "UPS-MIB::upsOutputSorce"),),
    )
    with pytest.raises(ValueError, match=r"'typo'.*upsOutputSorce"):
        resolve_table(table)
    with pytest.raises(LookupError, match="NO-SUCH-MIB is not compiled"):
        compiled.resolve("NO-SUCH-MIB::x")


def test_plan_by_sys_object_id_and_by_name() -> None:
    mikrotik = (1, 3, 6, 1, 4, 1, 14988, 1)
    auto = registry.plan(mikrotik, ("auto",))
    names = {r.table.name for r in auto.chosen}
    assert {"mikrotik-wireless", "ups-mib", "host-resources-cpu"} <= names
    assert "apc-powernet" not in names and "ubnt-airmax" not in names
    assert "apc-powernet" in registry.plan((1, 3, 6, 1, 4, 1, 318, 1, 3, 27), ("auto",)).expected
    # a prefix is matched by whole numbers: 3180 is not APC (318)
    assert "apc-powernet" not in {
        r.table.name for r in registry.plan((1, 3, 6, 1, 4, 1, 3180), ("auto",)).chosen
    }
    named = registry.plan((1, 3, 6, 1, 4, 1, 8072), ("mikrotik-power",))
    assert [r.table.name for r in named.chosen] == ["mikrotik-power"]
    assert named.expected == {"mikrotik-power"}
    assert registry.plan(mikrotik, ()).chosen == ()


def test_unknown_table_name_is_refused_naming_profile_field_and_valid_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X", "community")
    path = tmp_path / "pantau.toml"
    path.write_text("[snmp.profiles.tower]\ncommunity_env = 'X'\nhealth = ['auto', 'ups-mibb']\n")
    _, problems = check_config(path)
    text = "\n".join(map(str, problems))
    assert "snmp.profiles.tower.health" in text
    assert "'ups-mibb'" in text and "ups-mib-input" in text and "apc-powernet" in text
    path.write_text("[snmp.profiles.tower]\ncommunity_env = 'X'\nhealth = []\n")
    assert check_config(path)[1] == []


# ---------------------------------------------------------------- pure evaluation


def _plan(*tables: Table, expected: tuple[str, ...] = ()) -> Plan:
    return Plan(tuple(resolve_table(t) for t in tables), frozenset(expected))


UPS = (1, 3, 6, 1, 2, 1, 33, 1)


def test_absent_unparsable_and_unknown_values_give_no_sample() -> None:
    ups = Table(
        "ups",
        "power",
        (),
        "",
        {},
        (
            Metric("pantau_ups_on_battery", "h", "UPS-MIB::upsOutputSource", "enum", enum={5: 1.0}),
            Metric(
                "pantau_ups_battery_charge_ratio",
                "h",
                "UPS-MIB::upsEstimatedChargeRemaining",
                scale=0.01,
            ),
            Metric(
                "pantau_ups_runtime_seconds",
                "h",
                "UPS-MIB::upsEstimatedMinutesRemaining",
                scale=60.0,
            ),
        ),
    )
    raw = {
        (*UPS, 4, 1, 0): {(): 3},  # normal(3): not in the enum -> absent, not 0
        (*UPS, 2, 4, 0): {(): "noSuchObject"},
        (*UPS, 2, 3, 0): {(): 12},
    }
    health = evaluate(_plan(ups, expected=("ups",)), raw)
    assert [(s.name, s.value) for s in health.samples] == [("pantau_ups_runtime_seconds", 720.0)]
    assert health.tables_up == {"ups": True}
    silent = evaluate(_plan(ups, expected=("ups",)), {})
    assert silent.samples == () and silent.tables_up == {"ups": False}
    # a standard table nobody expected that is silent is not reported at all
    assert evaluate(_plan(ups), {}).tables_up == {}


def test_text_numbers_ratios_sensor_scale_filters_and_means() -> None:
    hr = (1, 3, 6, 1, 2, 1, 25)
    ent = (1, 3, 6, 1, 2, 1, 99, 1, 1, 1)
    tables = (
        Table(
            "cpu",
            "device",
            (),
            "cpu",
            {},
            (
                Metric(
                    "pantau_device_cpu_ratio",
                    "h",
                    "HOST-RESOURCES-MIB::hrProcessorLoad",
                    scale=0.01,
                    aggregate="mean",
                ),
            ),
        ),
        Table(
            "mem",
            "device",
            (),
            "storage",
            {"descr": "HOST-RESOURCES-MIB::hrStorageDescr"},
            (
                Metric(
                    "pantau_device_memory_used_ratio",
                    "h",
                    "HOST-RESOURCES-MIB::hrStorageUsed",
                    divide_by="HOST-RESOURCES-MIB::hrStorageSize",
                ),
            ),
            where={"HOST-RESOURCES-MIB::hrStorageType": ("1.3.6.1.2.1.25.2.1.2",)},
        ),
        Table(
            "temp",
            "device",
            (),
            "sensor",
            {},
            (
                Metric(
                    "pantau_device_temperature_celsius",
                    "h",
                    "ENTITY-SENSOR-MIB::entPhySensorValue",
                    precision="ENTITY-SENSOR-MIB::entPhySensorPrecision",
                    exponent="ENTITY-SENSOR-MIB::entPhySensorScale",
                ),
            ),
            where={"ENTITY-SENSOR-MIB::entPhySensorType": (8,)},
        ),
        Table(
            "txt",
            "radio",
            (),
            "",
            {},
            # any compiled scalar will do: what is tested is the parse of the text it answers
            (
                Metric(
                    "pantau_radio_signal_dbm",
                    "h",
                    "UPS-MIB::upsEstimatedMinutesRemaining",
                    "text_number",
                ),
            ),
        ),
    )
    raw = {
        (*hr, 3, 3, 1, 2): {(196608,): 10, (196609,): 31},
        (*hr, 2, 3, 1, 2): {(1,): (*hr, 2, 1, 2), (2,): (*hr, 2, 1, 4), (3,): (*hr, 2, 1, 2)},
        (*hr, 2, 3, 1, 3): {(1,): b"Physical memory", (2,): b"/", (3,): b"Swap?"},
        (*hr, 2, 3, 1, 5): {(1,): 400, (2,): 100, (3,): 0},
        (*hr, 2, 3, 1, 6): {(1,): 100, (2,): 50, (3,): 0},  # row 3: size 0 -> absent
        (*ent, 1): {(7,): 8, (8,): 8, (9,): 4},  # row 9 is volts: filtered out
        (*ent, 2): {(7,): 9, (8,): 8, (9,): 9},  # units, milli
        (*ent, 3): {(7,): 1, (8,): 0, (9,): 0},
        (*ent, 4): {(7,): 415, (8,): 41500, (9,): 12000},
        (*UPS, 2, 3, 0): {(): b"RSSI: -71.5 dBm"},
    }
    got = {(s.name, s.labels): s.value for s in evaluate(_plan(*tables), raw).samples}
    assert got.pop(("pantau_device_cpu_ratio", ())) == pytest.approx(0.205)  # (10 + 31) / 2 %
    assert got == {
        ("pantau_device_memory_used_ratio", (("descr", "Physical memory"), ("storage", "1"))): 0.25,
        ("pantau_device_temperature_celsius", (("sensor", "7"),)): 41.5,
        ("pantau_device_temperature_celsius", (("sensor", "8"),)): 41.5,
        ("pantau_radio_signal_dbm", ()): -71.5,
    }


def test_a_series_given_by_two_tables_is_the_first_ones() -> None:
    vendor = Table(
        "vendor",
        "power",
        ("1.3.6.1.4.1.318",),
        "",
        {},
        (
            Metric(
                "pantau_ups_runtime_seconds",
                "h",
                "PowerNet-MIB::upsAdvBatteryRunTimeRemaining",
                scale=0.01,
            ),
        ),
    )
    standard = Table(
        "standard",
        "power",
        (),
        "",
        {},
        (
            Metric(
                "pantau_ups_runtime_seconds",
                "h",
                "UPS-MIB::upsEstimatedMinutesRemaining",
                scale=60.0,
            ),
        ),
    )
    raw = {(1, 3, 6, 1, 4, 1, 318, 1, 1, 1, 2, 2, 3, 0): {(): 360000}, (*UPS, 2, 3, 0): {(): 61}}
    samples = evaluate(_plan(vendor, standard), raw).samples
    assert [(s.name, s.value) for s in samples] == [("pantau_ups_runtime_seconds", 3600.0)]


# ---------------------------------------------------------------- polls of real peers

needs_snmpd = pytest.mark.skipif(shutil.which("snmpd") is None, reason="net-snmp not installed")


def _prober(
    port: int, communities: list[str], health: list[str] | None = None
) -> tuple[SnmpProber, CollectorRegistry]:
    profiles = {
        c: {
            "version": "2c",
            "community": c,
            "port": port,
            "timeout": 3.0,
            "retries": 1,
            "max_repetitions": 10,
            **({"health": health} if health is not None else {}),
        }
        for c in communities
    }
    config = Config.model_validate({"snmp": {"profiles": profiles}})
    snmp = make_prober(
        SnmpSettings(timeout=30.0), ProbeContext(config=config, limiter=asyncio.Semaphore(8))
    )
    reg = CollectorRegistry()
    reg.register(TextCollector(snmp.families))
    return snmp, reg


def _exported(reg: CollectorRegistry, site: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in reg.collect():
        for s in family.samples:
            if (
                s.name in HEALTH
                and s.labels.get("site") == site
                and s.name != "pantau_snmp_health_table_up"
            ):
                labels = frozenset((k, v) for k, v in s.labels.items() if k != "site")
                out[(s.name, labels)] = s.value
    return out


def _tables_up(reg: CollectorRegistry, site: str) -> dict[str, float]:
    return {
        s.labels["table"]: s.value
        for family in reg.collect()
        for s in family.samples
        if s.name == "pantau_snmp_health_table_up" and s.labels["site"] == site
    }


# --- the oracle: an snmprec read by hand

Rec = dict[str, int | str]


def read_snmprec(path: Path) -> Rec:
    rec: Rec = {}
    for line in path.read_text(errors="replace").splitlines():
        oid, _, rest = line.partition("|")
        kind, _, value = rest.partition("|")
        if kind in ("2", "65", "66", "67", "70"):
            rec[oid] = int(value)
        elif kind == "4":
            rec[oid] = value
        elif kind == "6":
            rec[oid] = value.lstrip(".")
        elif kind == "4x":
            rec[oid] = bytes.fromhex(value).decode("utf-8", "replace")
    return rec


def col(rec: Rec, prefix: str) -> Iterator[tuple[str, int | str]]:
    """(row suffix, value) of a column."""
    for oid, value in rec.items():
        if oid.startswith(prefix + "."):
            yield oid[len(prefix) + 1 :], value


def L(**labels: str) -> frozenset:
    return frozenset(labels.items())


def row_labels(rec: Rec, index_label: str, index: str, **text_columns: str) -> dict[str, str]:
    """A row's labels: its index, and each text column's value where the recording has one."""
    labels = {index_label: index}
    for label, column in text_columns.items():
        if (text := rec.get(f"{column}.{index}")) is not None:
            labels[label] = str(text)
    return labels


def oracle_ups_mib(rec: Rec) -> dict:
    b = "1.3.6.1.2.1.33.1"
    out: dict = {}
    source = rec.get(f"{b}.4.1.0")
    if source in (3, 4, 5, 6, 7):  # normal bypass battery booster reducer
        out[("pantau_ups_on_battery", L())] = 1.0 if source == 5 else 0.0
    if (charge := rec.get(f"{b}.2.4.0")) is not None:
        out[("pantau_ups_battery_charge_ratio", L())] = charge / 100
    if (minutes := rec.get(f"{b}.2.3.0")) is not None:
        out[("pantau_ups_runtime_seconds", L())] = minutes * 60.0
    for line, volts in col(rec, f"{b}.3.3.1.3"):
        out[("pantau_ups_input_voltage_volts", L(line=line))] = float(volts)
    return out


def oracle_apc(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.318.1.1.1"
    out: dict = {}
    status = rec[f"{b}.4.1.1.0"]
    assert status in (2, 3)  # onLine, onBattery: what these recordings hold
    out[("pantau_ups_on_battery", L())] = 1.0 if status == 3 else 0.0
    if f"{b}.2.3.1.0" in rec:  # upsHighPrecBatteryCapacity, tenths of a percent
        out[("pantau_ups_battery_charge_ratio", L())] = int(rec[f"{b}.2.3.1.0"]) / 1000
    elif f"{b}.2.2.1.0" in rec:
        out[("pantau_ups_battery_charge_ratio", L())] = int(rec[f"{b}.2.2.1.0"]) / 100
    out[("pantau_ups_runtime_seconds", L())] = int(rec[f"{b}.2.2.3.0"]) / 100  # TimeTicks
    if f"{b}.3.3.1.0" in rec:  # upsHighPrecInputLineVoltage, tenths of a volt
        out[("pantau_ups_input_voltage_volts", L())] = int(rec[f"{b}.3.3.1.0"]) / 10
    elif f"{b}.3.2.1.0" in rec:
        out[("pantau_ups_input_voltage_volts", L())] = float(rec[f"{b}.3.2.1.0"])
    return out


def oracle_host_resources(rec: Rec) -> dict:
    out: dict = {}
    loads = [int(v) for _, v in col(rec, "1.3.6.1.2.1.25.3.3.1.2")]
    if loads:
        out[("pantau_device_cpu_ratio", L())] = sum(loads) / len(loads) / 100
    types = dict(col(rec, "1.3.6.1.2.1.25.2.3.1.2"))
    for index, kind in types.items():
        if kind == "1.3.6.1.2.1.25.2.1.2":  # hrStorageRam
            size = int(rec[f"1.3.6.1.2.1.25.2.3.1.5.{index}"])
            used = int(rec[f"1.3.6.1.2.1.25.2.3.1.6.{index}"])
            name = str(rec[f"1.3.6.1.2.1.25.2.3.1.3.{index}"])
            out[("pantau_device_memory_used_ratio", L(storage=index, descr=name))] = used / size
    return out


def oracle_entity_sensor(rec: Rec) -> dict:
    b = "1.3.6.1.2.1.99.1.1.1"
    out: dict = {}
    for index, kind in col(rec, f"{b}.1"):
        if kind != 8 or rec.get(f"{b}.5.{index}") != 1:  # celsius, ok
            continue
        value = int(rec[f"{b}.4.{index}"]) / 10 ** int(rec[f"{b}.3.{index}"])
        value *= 10.0 ** (3 * (int(rec[f"{b}.2.{index}"]) - 9))
        labels = row_labels(rec, "entity", index, sensor="1.3.6.1.2.1.47.1.1.1.1.7")
        out[("pantau_device_temperature_celsius", L(**labels))] = value
    return out


def oracle_mikrotik(rec: Rec) -> dict:
    w, h = "1.3.6.1.4.1.14988.1.1.1", "1.3.6.1.4.1.14988.1.1.3"
    out: dict = {}
    for station, dbm in col(rec, f"{w}.2.1.3"):
        labels = row_labels(rec, "station", station, interface=f"{w}.2.1.2")
        out[("pantau_radio_signal_dbm", L(**labels))] = float(dbm)
        for column, name in (
            (12, "pantau_radio_snr_db"),
            (8, "pantau_radio_tx_rate_bps"),
            (9, "pantau_radio_rx_rate_bps"),
        ):
            if (v := rec.get(f"{w}.2.1.{column}.{station}")) not in (None, 0):  # 0: not measured
                out[(name, L(**labels))] = float(v)
    for iface, clients in col(rec, f"{w}.3.1.6"):
        labels = {"interface": iface, "ssid": str(rec[f"{w}.3.1.4.{iface}"])}
        out[("pantau_radio_clients", L(**labels))] = float(clients)
        for column, name, div in (
            (9, "pantau_radio_noise_dbm", 1),
            (10, "pantau_radio_ccq_ratio", 100),
            (2, "pantau_radio_tx_rate_bps", 1),
            (3, "pantau_radio_rx_rate_bps", 1),
        ):
            if (v := rec.get(f"{w}.3.1.{column}.{iface}")) not in (None, 0):
                out[(name, L(**labels))] = int(v) / div
    if (v := rec.get(f"{h}.8.0")) is not None:
        out[("pantau_device_voltage_volts", L())] = int(v) / 10
    for column, name in ((10, "board"), (6, "cpu")):
        if (v := rec.get(f"{h}.{column}.0")) is not None:
            out[("pantau_device_temperature_celsius", L(sensor=name))] = int(v) / 10
    for gauge, unit in col(rec, f"{h}.100.1.4"):
        value, name = int(rec[f"{h}.100.1.3.{gauge}"]), str(rec[f"{h}.100.1.2.{gauge}"])
        if unit == 1:
            out[("pantau_device_temperature_celsius", L(gauge=gauge, sensor=name))] = float(value)
        elif unit == 3:
            out[("pantau_device_voltage_volts", L(gauge=gauge, sensor=name))] = value / 10
    return out


def oracle_airmax(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.41112.1.4.5.1"
    out: dict = {}
    for radio, _ in col(rec, f"{b}.5"):
        labels = row_labels(rec, "radio", radio, ssid=f"{b}.2")
        for column, name, div in (
            (5, "pantau_radio_signal_dbm", 1),
            (8, "pantau_radio_noise_dbm", 1),
            (9, "pantau_radio_tx_rate_bps", 1),
            (10, "pantau_radio_rx_rate_bps", 1),
        ):
            if (v := rec.get(f"{b}.{column}.{radio}")) not in (None, 0):
                out[(name, L(**labels))] = int(v) / div
        out[("pantau_radio_ccq_ratio", L(**labels))] = int(rec[f"{b}.7.{radio}"]) / 100
        out[("pantau_radio_clients", L(**labels))] = float(rec[f"{b}.15.{radio}"])
    return out


def oracle_airfiber(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.41112.1.3.2.1"
    out: dict = {}
    for radio, _ in col(rec, f"{b}.11"):
        out[("pantau_radio_signal_dbm", L(radio=radio, chain="0"))] = float(rec[f"{b}.11.{radio}"])
        out[("pantau_radio_signal_dbm", L(radio=radio, chain="1"))] = float(rec[f"{b}.14.{radio}"])
        out[("pantau_radio_capacity_bps", L(radio=radio, direction="tx"))] = float(
            rec[f"{b}.6.{radio}"]
        )
        out[("pantau_radio_capacity_bps", L(radio=radio, direction="rx"))] = float(
            rec[f"{b}.5.{radio}"]
        )
    return out


def oracle_ltu(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.41112.1.10.1.4.1"
    out: dict = {}
    for station, _ in col(rec, f"{b}.5"):
        labels = row_labels(rec, "station", station, station_name=f"{b}.13")
        out[("pantau_radio_signal_dbm", L(chain="0", **labels))] = float(rec[f"{b}.5.{station}"])
        out[("pantau_radio_signal_dbm", L(chain="1", **labels))] = float(rec[f"{b}.6.{station}"])
        out[("pantau_radio_capacity_bps", L(direction="tx", **labels))] = (
            int(rec[f"{b}.3.{station}"]) * 1000.0
        )
        out[("pantau_radio_capacity_bps", L(direction="rx", **labels))] = (
            int(rec[f"{b}.4.{station}"]) * 1000.0
        )
    return out


def oracle_epmp(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.17713.21.1.2"
    out: dict = {}
    for column, name in (
        (3, "pantau_radio_signal_dbm"),
        (18, "pantau_radio_snr_db"),
        (10, "pantau_radio_clients"),
    ):
        if (v := rec.get(f"{b}.{column}.0")) not in (None, 0):
            out[(name, L())] = float(v)
    return out


def oracle_mimosa(rec: Rec) -> dict:
    b = "1.3.6.1.4.1.43356.2.1.2"
    out: dict = {}
    for chain, _ in col(rec, f"{b}.6.1.1.3"):
        for column, name in (
            (3, "pantau_radio_signal_dbm"),
            (4, "pantau_radio_noise_dbm"),
            (5, "pantau_radio_snr_db"),
        ):
            if (
                v := int(rec[f"{b}.6.1.1.{column}.{chain}"])
            ) != -1000:  # DecimalOne -100: unused chain
                out[(name, L(chain=chain))] = v / 10
    for column, name in ((1, "pantau_radio_tx_rate_bps"), (2, "pantau_radio_rx_rate_bps")):
        if (v := rec.get(f"{b}.7.{column}.0")) is not None:  # DecimalTwo kbit/s
            out[(name, L())] = int(v) * 10.0
    out[("pantau_device_temperature_celsius", L(sensor="internal"))] = int(rec[f"{b}.1.8.0"]) / 10
    return out


def _both(*oracles: Callable[[Rec], dict]) -> Callable[[Rec], dict]:
    return lambda rec: {k: v for o in oracles for k, v in o(rec).items()}


_STANDARD = _both(oracle_ups_mib, oracle_host_resources, oracle_entity_sensor)
RECORDINGS: dict[str, tuple[Callable[[Rec], dict], int]] = {
    # file: (oracle of every health series it must export, least number of series)
    "cetpower": (_STANDARD, 6),  # on battery
    "cyberpower_pr2200rt2uc": (_STANDARD, 4),
    "apc_smx750i": (_both(oracle_apc, _STANDARD), 4),
    "apc_smt750x-nmc2": (_both(oracle_apc, _STANDARD), 4),
    "panos_sensors_1": (_STANDARD, 30),
    "routeros": (_both(oracle_mikrotik, _STANDARD), 20),
    "routeros_crs317": (_both(oracle_mikrotik, _STANDARD), 5),
    "airos_airos8": (_both(oracle_airmax, _STANDARD), 6),
    "airos-af": (_both(oracle_airfiber, _STANDARD), 4),
    "airos-af-ltu": (_both(oracle_ltu, _STANDARD), 6),
    "epmp": (_both(oracle_epmp, _STANDARD), 2),
    "mimosa_b5": (_both(oracle_mimosa, _STANDARD), 13),
}


@pytest.fixture(scope="module")
def recordings() -> Iterator[Snmpsim]:
    sim = Snmpsim(free_udp_port(), {name: LIBRENMS / f"{name}.snmprec" for name in RECORDINGS})
    try:
        yield sim.start()
    finally:
        sim.stop()


def _merged(oracle: dict) -> dict:
    """A series two tables give is exported once (the vendor's): the oracle keeps the first."""
    return oracle


@pytest.mark.parametrize("name", list(RECORDINGS))
async def test_recording_every_health_value_matches_the_file(
    recordings: Snmpsim, name: str
) -> None:
    oracle, least = RECORDINGS[name]
    expected = oracle(read_snmprec(LIBRENMS / f"{name}.snmprec"))
    snmp, reg = _prober(recordings.port, [name])
    try:
        result = (await snmp.run([ProbeJob(name, f"snmp:{name}", name, "127.0.0.1")]))[
            (name, f"snmp:{name}")
        ]
    finally:
        await snmp.aclose()
    assert result.ok or result.reason == "if_down", result.message
    got = _exported(reg, name)
    assert len(got) >= least
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=1e-9), key
    # every table that answered says so; nothing answered is reported as silent only if expected
    up = _tables_up(reg, name)
    assert up and all(v in (0.0, 1.0) for v in up.values())


async def test_recording_without_health_setting_exports_none(recordings: Snmpsim) -> None:
    snmp, reg = _prober(recordings.port, ["cetpower"], health=[])
    try:
        assert (await snmp.run([ProbeJob("c", "snmp:cetpower", "cetpower", "127.0.0.1")]))[
            ("c", "snmp:cetpower")
        ].ok
    finally:
        await snmp.aclose()
    assert _exported(reg, "c") == {} and _tables_up(reg, "c") == {}


async def test_named_table_a_device_lacks_reports_table_down(recordings: Snmpsim) -> None:
    snmp, reg = _prober(
        recordings.port, ["cyberpower_pr2200rt2uc"], health=["apc-powernet", "ups-mib"]
    )
    site = "ups"
    try:
        await snmp.run([ProbeJob(site, "snmp:x", "cyberpower_pr2200rt2uc", "127.0.0.1")])
    finally:
        await snmp.aclose()
    assert _tables_up(reg, site) == {"apc-powernet": 0.0, "ups-mib": 1.0}
    assert ("pantau_ups_on_battery", L()) in _exported(reg, site)


@needs_snmpd
async def test_real_snmpd_host_resources(tmp_path: Path) -> None:
    daemon = Snmpd(tmp_path, free_udp_port(), ["[snmpd] rocommunity lab-ro 127.0.0.1"])
    snmp, reg = _prober(daemon.port, ["lab-ro"])
    try:
        daemon.start("lab-ro")
        await snmp.run([ProbeJob("srv", "snmp:lab-ro", "lab-ro", "127.0.0.1")])
        loads = _walk(daemon.port, "1.3.6.1.2.1.25.3.3.1.2")  # right after the poll
        sizes = _walk(daemon.port, "1.3.6.1.2.1.25.2.3.1.5.1")
    finally:
        daemon.stop()
        await snmp.aclose()
    got = _exported(reg, "srv")
    cpu = got.get(("pantau_device_cpu_ratio", L()))
    if loads:  # snmpd averages a minute of load before it answers hrProcessorLoad
        assert cpu is not None and abs(cpu - sum(loads) / len(loads) / 100) <= 0.1
    else:
        assert cpu is None  # not answered: absent, never 0
    memory = got[("pantau_device_memory_used_ratio", L(storage="1", descr="Physical memory"))]
    assert 0.0 < memory < 1.0 and sizes[0] > 0  # net-snmp's row 1 is RAM, in use
    assert _tables_up(reg, "srv")["host-resources-memory"] == 1.0
    assert not any(name.startswith("pantau_ups_") for name, _ in got)  # no UPS-MIB: absent


def _walk(port: int, oid: str) -> list[int]:
    """Integers net-snmp's own snmpbulkwalk reads under ``oid`` (the oracle for live values)."""
    done = subprocess.run(
        ["snmpbulkwalk", "-v2c", "-c", "lab-ro", "-On", "-Oqv", f"127.0.0.1:{port}", oid],
        capture_output=True,
        text=True,
        env={"MIBS": "", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return [int(v) for v in done.stdout.split() if v.lstrip("-").isdigit()]


async def test_silent_standard_tables_cost_nothing_after_the_first_poll(
    recordings: Snmpsim,
) -> None:
    """The standard tables a device does not answer (a Cambium ePMP has no UPS-MIB,
    HOST-RESOURCES or ENTITY-SENSOR) cost at its first (full) poll only; later polls cost what
    they cost without health."""
    costs = {}
    for health in (["auto"], []):
        snmp, _ = _prober(recordings.port, ["epmp"], health=health)
        try:
            polls = [
                (await snmp.run([ProbeJob("e", "snmp:epmp", "epmp", "127.0.0.1")]))[
                    ("e", "snmp:epmp")
                ]
                for _ in range(2)
            ]
        finally:
            await snmp.aclose()
        costs[tuple(health)] = [p.data.pdus for p in polls]
    first, second = costs[("auto",)]
    assert second < first
    # epmp answers only its vendor scalars, which ride in the system GET: same cost as none
    assert second == costs[()][1]


SITE_LABELS = {"site", "name", "kind", "district", "district_name", "parent", "instance", "job"}


def test_no_table_label_collides_with_the_site_labels_alerts_join() -> None:
    """Alerts join site:pantau_site_info:max (name, kind, district, ...): a health label of the
    same name would be overwritten (a sensor's name replaced by the site's)."""
    for resolved in registry.tables():
        table = resolved.table
        labels = {table.index_label, *table.labels}
        labels |= {k for m in table.metrics for k, _ in m.const_labels}
        assert not labels & SITE_LABELS, f"{table.name}: {sorted(labels & SITE_LABELS)}"


async def test_between_full_polls_known_rows_are_read_by_get_and_export_the_same(
    recordings: Snmpsim,
) -> None:
    """routeros: the RAM row of hrStorage and the processors (static_rows) are walked at the
    first poll and read by GET in the system request after it: fewer PDUs, the same values."""
    snmp, reg = _prober(recordings.port, ["routeros"])
    polls, exported = [], []
    try:
        for _ in range(2):
            job = ProbeJob("r", "snmp:routeros", "routeros", "127.0.0.1")
            polls.append((await snmp.run([job]))[job.key])
            exported.append(_exported(reg, "r"))
    finally:
        await snmp.aclose()
    first, second = (p.data for p in polls)
    storage_used = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 6)
    assert storage_used in first.health  # walked as a column
    assert (*storage_used, 65536) in second.health  # the RAM row, read by GET
    assert storage_used not in second.health
    assert second.pdus < first.pdus
    assert exported[0] == exported[1]
    assert ("pantau_device_memory_used_ratio", L(storage="65536", descr="main memory")) in exported[
        1
    ]


class _WholeGetFails:
    """A real v2c session to snmpsim that fails a whole GET naming any object outside the system
    group with error-status noSuchName, as some v1-era agents answer a v2c GET for an object they
    lack (stand-in: net-snmp and snmpsim answer noSuchObject per varbind instead)."""

    def __init__(self, session: V2cSession) -> None:
        self.session = session

    async def request(self, pdu_type, oids, non_repeaters=0, max_repetitions=0):
        if pdu_type == GET and any(o[:7] != (1, 3, 6, 1, 2, 1, 1) for o in oids):
            raise SnmpFailure("snmp_error", "error-status 2 at index 5")
        return await self.session.request(pdu_type, oids, non_repeaters, max_repetitions)

    async def aclose(self) -> None:
        await self.session.aclose()


async def test_agent_failing_a_whole_get_for_health_scalars_still_polls(
    recordings: Snmpsim,
) -> None:
    from pantau.agent.snmp.health.reading import reading
    from pantau.agent.snmp.walk import poll_device

    session = _WholeGetFails(V2cSession("127.0.0.1", recordings.port, "cetpower", 3.0, 1))

    def oids(sys_object_id, full):
        read = reading(sys_object_id, ("auto",), full, (frozenset(), ()))
        return read.scalars, read.columns

    try:
        snap = await poll_device(session, 10, (), None, oids)
    finally:
        await session.aclose()
    assert snap.uptime_ticks > 0 and snap.sys_object_id  # the system GET went through again
    assert not any(k[:9] == UPS for k in snap.health)  # UPS-MIB scalars: absent, not 0
    # the walked UPS-MIB input table still answered
    assert snap.health[(*UPS, 3, 3, 1, 3)]
