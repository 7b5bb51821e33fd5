"""Every health table of every family module, resolved to numeric OIDs once, and the choice of
tables for one device (its ``sysObjectID`` and its profile's ``health`` setting).

A family module is any module of :mod:`pantau.agent.snmp.health.families` that exports
``TABLES``; a name that does not resolve through the compiled MIB modules fails at import (and
in CI), naming the table and the metric.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

from pantau.agent.snmp.ber import Oid
from pantau.agent.snmp.health import families
from pantau.agent.snmp.health.compiled import resolve
from pantau.agent.snmp.health.indexes import FORMATS
from pantau.agent.snmp.health.spec import AGGREGATES, FAMILIES, PARSERS, Metric, Table

AUTO = "auto"


@dataclasses.dataclass(frozen=True, slots=True)
class Resolved:
    """A table with every ``MIB::object`` it names resolved: ``oids[name]`` is the column (or,
    for a table of scalars, the object whose instance ``.0`` is read)."""

    table: Table
    oids: Mapping[str, Oid]
    match: tuple[Oid, ...]
    #: ``MIB::object`` -> index components after the row index (``Metric.instance``)
    instances: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)

    @property
    def scalar(self) -> bool:
        return not self.table.index_label

    def roots(self) -> tuple[Oid, ...]:
        """The OIDs to read: columns to walk, or scalar instances (``.0``) to GET."""
        unique = dict.fromkeys(self.oids.values())
        return tuple((*o, 0) for o in unique) if self.scalar else tuple(unique)


def object_names(table: Table) -> Iterable[str]:
    """Every ``"MIB-MODULE::objectName"`` the table names (labels, filters, metrics and the
    columns they divide by): what the compiled MIB modules must hold for it."""
    yield from table.labels.values()
    yield from table.where
    for metric in table.metrics:
        yield metric.oid
        yield from (n for n in (metric.divide_by, metric.precision, metric.exponent) if n)


def _check(table: Table, metric: Metric) -> None:
    where = f"health table {table.name!r} metric {metric.name!r}"
    if metric.parse not in PARSERS:
        raise ValueError(f"{where}: parse {metric.parse!r} is not one of {PARSERS}")
    if (metric.parse == "enum") != (metric.enum is not None):
        raise ValueError(f"{where}: enum is given exactly when parse is 'enum'")
    if metric.aggregate not in AGGREGATES:
        raise ValueError(f"{where}: aggregate {metric.aggregate!r} is not one of {AGGREGATES}")
    if not metric.name.startswith("pantau_"):
        raise ValueError(f"{where}: metric names start with pantau_")


def _instances(table: Table) -> dict[str, tuple[int, ...]]:
    where = f"health table {table.name!r}"
    found: dict[str, tuple[int, ...]] = {}
    for metric in table.metrics:
        if found.setdefault(metric.oid, metric.instance) != metric.instance:
            raise ValueError(f"{where}: {metric.oid} read with two different instances")
    others = {*table.labels.values(), *table.where}
    for metric in table.metrics:
        others |= {n for n in (metric.divide_by, metric.precision, metric.exponent) if n}
    clash = sorted(n for n in others if found.get(n))
    if clash:
        raise ValueError(f"{where}: {', '.join(clash)} used with and without an instance")
    instances = {name: tail for name, tail in found.items() if tail}
    if instances and (table.static_rows or not table.index_label):
        raise ValueError(f"{where}: instance needs a walked table (index_label, not static_rows)")
    return instances


def resolve_table(table: Table) -> Resolved:
    """Resolve a table's names; raise ``ValueError`` naming the table and the object."""
    if table.family not in FAMILIES:
        raise ValueError(f"health table {table.name!r}: family {table.family!r} not in {FAMILIES}")
    if table.index_format and table.index_format not in FORMATS:
        raise ValueError(
            f"health table {table.name!r}: index_format {table.index_format!r} is not one of "
            f"{sorted(FORMATS)}"
        )
    for metric in table.metrics:
        _check(table, metric)
    instances = _instances(table)
    oids: dict[str, Oid] = {}
    for name in object_names(table):
        try:
            oids[name] = resolve(name)
        except LookupError as exc:
            raise ValueError(f"health table {table.name!r}: {exc}") from None
    match = tuple(tuple(int(p) for p in m.strip(".").split(".")) for m in table.match)
    return Resolved(table, oids, match, instances)


def declared() -> list[Table]:
    """Every table of every family module as written, nothing resolved."""
    found: list[Table] = []
    for info in pkgutil.iter_modules(families.__path__):
        module = importlib.import_module(f"{families.__name__}.{info.name}")
        found.extend(getattr(module, "TABLES", ()))
    return found


@cache
def tables() -> tuple[Resolved, ...]:
    """Every table of every family module, vendor tables (with ``match``) before the standard
    ones: when both give the same series, the vendor's wins (see :func:`evaluate`)."""
    found = declared()
    names = [t.name for t in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"health tables defined twice: {', '.join(duplicates)}")
    ordered = sorted(found, key=lambda t: (not t.match, t.family, t.name))
    return tuple(resolve_table(t) for t in ordered)


def table_names() -> tuple[str, ...]:
    return tuple(r.table.name for r in tables())


def check_choice(choice: Sequence[str]) -> list[str]:
    """Names in a profile's ``health`` list that are neither ``auto`` nor a table."""
    known = set(table_names())
    return [name for name in choice if name != AUTO and name not in known]


def _matches(sys_object_id: Oid, prefixes: tuple[Oid, ...]) -> bool:
    return any(sys_object_id[: len(p)] == p for p in prefixes)


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """The tables read on one device: ``expected`` ones report ``table_up 0`` when silent."""

    chosen: tuple[Resolved, ...]
    expected: frozenset[str]

    def scalars(self) -> tuple[Oid, ...]:
        return tuple(dict.fromkeys(o for r in self.chosen if r.scalar for o in r.roots()))

    def columns(self) -> tuple[Oid, ...]:
        return tuple(dict.fromkeys(o for r in self.chosen if not r.scalar for o in r.roots()))

    def only(self, answered: frozenset[str]) -> Plan:
        """The plan without the unexpected tables that are not in ``answered``."""
        keep = self.expected | answered
        return Plan(tuple(r for r in self.chosen if r.table.name in keep), self.expected)


EMPTY_PLAN = Plan((), frozenset())


@cache
def plan(sys_object_id: Oid, choice: tuple[str, ...]) -> Plan:
    """Tables for a device: with ``auto``, the standard tables plus those whose ``match``
    prefixes the device's ``sysObjectID``; named tables always; ``()`` none."""
    chosen: list[Resolved] = []
    expected: set[str] = set()
    named = set(choice)
    for r in tables():
        name = r.table.name
        if name in named:
            chosen.append(r)
            expected.add(name)
        elif AUTO in named:
            if not r.match:
                chosen.append(r)
            elif _matches(sys_object_id, r.match):
                chosen.append(r)
                if r.table.expect:
                    expected.add(name)
    return Plan(tuple(chosen), frozenset(expected)) if chosen else EMPTY_PLAN
