"""Walked MIB columns -> health samples: a pure function, tested without the network.

``raw`` maps each column OID walked to ``{row suffix: value}`` and each scalar instance read
(``object.0``) to ``{(): value}``, values as :mod:`pantau.agent.snmp.ber` decodes them (int,
bytes, OID tuple, or an exception name as str). A value the device did not return, or that does
not parse, gives no sample: never 0.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from pantau.agent.snmp.ber import Oid
from pantau.agent.snmp.health.indexes import label as index_label
from pantau.agent.snmp.health.registry import Plan, Resolved
from pantau.agent.snmp.health.spec import Metric

Labels = tuple[tuple[str, str], ...]
Raw = Mapping[Oid, Mapping[Oid, object]]

_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DBM = re.compile(rb"([-+]?(?:\d+\.?\d*|\.\d+))\s*dBm\b", re.IGNORECASE)
_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels  # without site, sorted by name
    value: float


@dataclasses.dataclass(frozen=True, slots=True)
class Health:
    """One device's health after one poll."""

    samples: tuple[Sample, ...]
    tables_up: Mapping[str, bool]  # table name -> answered rows (chosen tables that answered
    #                                or were expected by sysObjectID or the profile)
    #: the rows kept (``where``) of each answering ``static_rows`` table
    rows: Mapping[str, tuple[Oid, ...]] = dataclasses.field(default_factory=dict)


NO_HEALTH = Health((), {})


def text(value: object) -> str | None:
    """A label value: DisplayString as one line, integers as decimal, OIDs dotted."""
    if isinstance(value, bytes):
        decoded = value.decode("utf-8", "replace")
        return decoded if decoded.isprintable() else " ".join(decoded.translate(_CONTROLS).split())
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    return None


def _key(value: object) -> int | str | None:
    """A value as compared with ``Table.where``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return text(value)


def _raw_number(metric: Metric, value: object) -> float | None:
    if metric.parse == "text_dbm":  # "0.03 mW (-14.61 dBm)": the dBm figure, not the first
        found = _DBM.search(value) if isinstance(value, bytes) else None
        return float(found.group(1)) if found is not None else None
    if metric.parse == "text_number":
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bytes) and (found := _NUMBER.search(value)) is not None:
            return float(found.group())
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return None  # an exception (noSuchObject...), text, an OID, NULL
    if metric.parse == "enum":
        assert metric.enum is not None
        return metric.enum.get(value)
    return float(value)


def value_of(metric: Metric, row: Mapping[str, object]) -> float | None:
    """The exported value of ``metric`` in one row (``MIB::object`` -> raw), or None."""
    raw = row.get(metric.oid)
    number = _raw_number(metric, raw)
    if number is None:
        return None
    if metric.missing and number in metric.missing:
        return None
    if metric.divide_by:
        divisor = row.get(metric.divide_by)
        if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor == 0:
            return None
        number /= divisor
    if metric.precision:
        places = row.get(metric.precision)
        if not isinstance(places, int) or not -8 <= places <= 9:
            return None
        number /= 10.0**places
    if metric.exponent:
        exponent = row.get(metric.exponent)
        if not isinstance(exponent, int) or not 1 <= exponent <= 17:
            return None
        number *= 10.0 ** (3 * (exponent - 9))
    inverse = 1.0 / metric.scale if metric.scale else 0.0
    if 0 < metric.scale < 1 and inverse == round(inverse):  # tenths: 1191 / 10 is 119.1 exactly
        return number / round(inverse) + metric.offset
    return number * metric.scale + metric.offset


def _rows(resolved: Resolved, raw: Raw) -> dict[Oid, dict[str, object]]:
    """Row suffix -> {MIB::object: value} for every row any column of the table answered."""
    rows: dict[Oid, dict[str, object]] = {}
    for name, oid in resolved.oids.items():
        values = raw.get((*oid, 0), {}) if resolved.scalar else raw.get(oid, {})
        tail = resolved.instances.get(name, ())
        for suffix, value in values.items():
            if value is None or isinstance(value, str):  # str: noSuchObject...
                continue
            if tail:  # the value at row.instance is the row's (Metric.instance)
                if len(suffix) <= len(tail) or suffix[-len(tail) :] != tail:
                    continue
                suffix = suffix[: -len(tail)]
            rows.setdefault(suffix, {})[name] = value
    return rows


def _kept(resolved: Resolved, row: Mapping[str, object]) -> bool:
    return all(_key(row.get(name)) in allowed for name, allowed in resolved.table.where.items())


def table_samples(resolved: Resolved, raw: Raw) -> tuple[list[Sample], bool]:
    """One table's samples and whether it answered any row."""
    samples, answered, _ = _table(resolved, raw)
    return samples, answered


def _table(resolved: Resolved, raw: Raw) -> tuple[list[Sample], bool, list[Oid]]:
    """One table's samples, whether it answered any row, and the rows kept."""
    table = resolved.table
    rows = _rows(resolved, raw)
    metric_names = {m.oid for m in table.metrics}
    answered = any(metric_names & row.keys() for row in rows.values())
    out: list[Sample] = []
    sums: dict[tuple[str, Labels], list[float]] = {}
    kept: list[Oid] = []
    for suffix, row in rows.items():
        if not _kept(resolved, row):
            continue
        kept.append(suffix)
        labels: list[tuple[str, str]] = []
        if table.index_label:
            labels.append((table.index_label, index_label(table.index_format, suffix)))
        for label, name in table.labels.items():
            if (label_text := text(row.get(name))) is not None:
                labels.append((label, label_text))
        for metric in table.metrics:
            value = value_of(metric, row)
            if value is None:
                continue
            if metric.aggregate == "mean":
                sums.setdefault((metric.name, tuple(sorted(metric.const_labels))), []).append(value)
            else:
                out.append(
                    Sample(metric.name, tuple(sorted([*labels, *metric.const_labels])), value)
                )
    for (name, labels_), values in sums.items():
        out.append(Sample(name, labels_, sum(values) / len(values)))
    return out, answered, kept


def evaluate(plan: Plan, raw: Raw) -> Health:
    """Every sample of the plan's tables; a series given by two tables is the first's (vendor
    tables come before the standard ones)."""
    seen: set[tuple[str, Labels]] = set()
    samples: list[Sample] = []
    up: dict[str, bool] = {}
    kept_rows: dict[str, tuple[Oid, ...]] = {}
    for resolved in plan.chosen:
        got, answered, kept = _table(resolved, raw)
        if answered or resolved.table.name in plan.expected:
            up[resolved.table.name] = answered
        if answered and kept and resolved.table.static_rows and not resolved.scalar:
            kept_rows[resolved.table.name] = tuple(kept)
        for sample in got:
            key = (sample.name, sample.labels)
            if key not in seen:
                seen.add(key)
                samples.append(sample)
    return Health(tuple(samples), up, kept_rows)
