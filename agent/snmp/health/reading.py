"""What one poll reads for a device's health plan, and the answers put back in column form.

At a full poll (the first, after a reboot, with every static-columns refresh) every chosen table
is read: columns walked, scalars by GET. Between full polls only the tables the device answered
(and the expected ones) are read, and a ``static_rows`` table's known rows are read by GET in the
system request rather than walked (their columns' instances, row by row).

The choice depends only on the device's sysObjectID, the profile's setting and what the device
answered at its last poll, so it is computed once per such state (:func:`reading`), not per poll.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import lru_cache

from pantau.agent.snmp.ber import Oid
from pantau.agent.snmp.health.evaluate import Health, Raw
from pantau.agent.snmp.health.registry import Plan, plan

#: Row instances a poll adds to the system GET at most (with sysDescr, the response must still
#: fit what small agents accept); the rest are walked.
MAX_ROW_INSTANCES = 16


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """The tables one poll reads and how."""

    plan: Plan
    scalars: tuple[Oid, ...]  # instances to GET (scalars and known rows)
    columns: tuple[Oid, ...]  # columns to walk
    rows: Mapping[Oid, tuple[Oid, Oid]]  # a known row's instance -> (column, row)


def answered(last: Health) -> tuple[frozenset[str], tuple[tuple[str, tuple[Oid, ...]], ...]]:
    """The part of the last poll's result that decides the next poll's reading."""
    return (
        frozenset(t for t, up in last.tables_up.items() if up),
        tuple(sorted(last.rows.items())),
    )


@lru_cache(maxsize=4096)
def reading(
    sys_object_id: Oid,
    choice: tuple[str, ...],
    full: bool,
    last: tuple[frozenset[str], tuple[tuple[str, tuple[Oid, ...]], ...]],
) -> Reading:
    """The reading of a poll: everything at a full poll, else what the device answered last."""
    chosen = plan(sys_object_id, choice)
    tables_up, known = last
    if not full:
        chosen = chosen.only(tables_up)
    known_rows = dict(known)
    scalars: list[Oid] = list(chosen.scalars())
    columns: list[Oid] = []
    rows: dict[Oid, tuple[Oid, Oid]] = {}
    budget = MAX_ROW_INSTANCES
    for resolved in chosen.chosen:
        if resolved.scalar:
            continue
        table_rows = None if full else known_rows.get(resolved.table.name)
        roots = resolved.roots()
        if table_rows and len(table_rows) * len(roots) <= budget:
            for column in roots:
                for row in table_rows:
                    rows[(*column, *row)] = (column, row)
            budget -= len(table_rows) * len(roots)
        else:
            columns += roots
    scalars += rows
    return Reading(chosen, tuple(dict.fromkeys(scalars)), tuple(dict.fromkeys(columns)), rows)


def by_column(read: Reading, raw: Raw) -> Raw:
    """Row instances read by GET (``column + row -> {(): value}``) as ``column -> {row: value}``;
    scalar instances and walked columns as they are."""
    out: dict[Oid, dict[Oid, object]] = {}
    for key, values in raw.items():
        where = read.rows.get(key)
        if where is None:
            out[key] = dict(values)
        elif () in values:
            out.setdefault(where[0], {})[where[1]] = values[()]
    return out
