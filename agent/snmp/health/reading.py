"""What one poll reads for a device's health plan, and the answers put back in column form.

At a full poll (the first, after a reboot, with every static-columns refresh) every chosen table
is read: columns walked, scalars by GET. Between full polls only the tables the device answered
(and the expected ones) are read, and a ``static_rows`` table's known rows are read by GET in the
system request rather than walked (their columns' instances, row by row).
"""

from __future__ import annotations

from pantau.agent.snmp.ber import Oid
from pantau.agent.snmp.health.evaluate import Health, Raw
from pantau.agent.snmp.health.registry import Plan

#: Row instances a poll adds to the system GET at most (with sysDescr, the response must still
#: fit what small agents accept); the rest are walked.
MAX_ROW_INSTANCES = 16


def read_plan(plan: Plan, full: bool, last: Health) -> Plan:
    """The tables this poll reads: all at a full poll, else those answered last time and the
    expected ones."""
    return plan if full else plan.only(frozenset(t for t, up in last.tables_up.items() if up))


def oids(plan: Plan, full: bool, last: Health) -> tuple[tuple[Oid, ...], tuple[Oid, ...]]:
    """(instances to GET, columns to walk) of this poll."""
    plan = read_plan(plan, full, last)
    scalars: list[Oid] = list(plan.scalars())
    columns: list[Oid] = []
    budget = MAX_ROW_INSTANCES
    for resolved in plan.chosen:
        if resolved.scalar:
            continue
        rows = None if full else last.rows.get(resolved.table.name)
        roots = resolved.roots()
        if rows and len(rows) * len(roots) <= budget:
            scalars += [(*column, *row) for column in roots for row in rows]
            budget -= len(rows) * len(roots)
        else:
            columns += roots
    return tuple(dict.fromkeys(scalars)), tuple(dict.fromkeys(columns))


def by_column(plan: Plan, raw: Raw) -> Raw:
    """Row instances read by GET (``column + row -> {(): value}``) as ``column -> {row: value}``;
    scalar instances and walked columns as they are."""
    scalars = set(plan.scalars())
    columns = {c for r in plan.chosen if not r.scalar for c in r.roots()}
    out: dict[Oid, dict[Oid, object]] = {}
    for key, values in raw.items():
        if key in scalars or key in columns:
            out.setdefault(key, {}).update(values)
            continue
        for column in columns:
            if key[: len(column)] == column and () in values:
                out.setdefault(column, {})[key[len(column) :]] = values[()]
                break
    return out
