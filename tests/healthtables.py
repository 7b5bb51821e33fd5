"""The SNMP health tables as the registry holds them, looked up by name for the pure tests: a
table, one metric of it by the MIB object it reads, and the value one raw answer becomes.

Every table of every family module is searched (``pantau.agent.snmp.health.registry``), so a
test names a table, never the module that declares it.
"""

from __future__ import annotations

from pantau.agent.snmp.health import registry
from pantau.agent.snmp.health.evaluate import value_of
from pantau.agent.snmp.health.spec import Metric, Table


def table(name: str) -> Table:
    found = [r.table for r in registry.tables() if r.table.name == name]
    assert len(found) == 1, f"no health table {name!r} (known: {registry.table_names()})"
    return found[0]


def table_names(*families: str) -> set[str]:
    """The names of the tables of these families."""
    return {r.table.name for r in registry.tables() if r.table.family in families}


def metric(table_name: str, oid: str) -> Metric:
    found = [m for m in table(table_name).metrics if m.oid == oid]
    assert len(found) == 1, f"health table {table_name!r}: {len(found)} metrics read {oid}"
    return found[0]


def value(table_name: str, oid: str, raw: object) -> float | None:
    """What the metric of ``table_name`` reading ``oid`` makes of the raw answer ``raw``."""
    return value_of(metric(table_name, oid), {oid: raw})


def chosen(sys_object_id: str, *families: str) -> set[str]:
    """The names of the tables of these families that ``auto`` reads on a device with this
    ``sysObjectID`` (dotted text)."""
    oid = tuple(int(p) for p in sys_object_id.split("."))
    return {r.table.name for r in registry.plan(oid, ("auto",)).chosen} & table_names(*families)
