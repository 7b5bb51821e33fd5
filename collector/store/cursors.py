"""Where each collector is in each agent's event log, and the events it counted lost.

Every function takes the connection of a transaction the :class:`~pantau.collector.store.Store`
opened; none commits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pantau.collector.schema import cursors


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    """Where the collector is in one agent's event log."""

    source: str
    agent: str
    log_id: str
    next: int
    updated: float
    missed: int = 0  # events counted lost (all reasons); added to the stored count
    segment: str = ""  # the log_id events are stored under; "" means ``log_id``
    went_back: int = 0  # of ``missed``, lost to a log that went back; added to the stored count

    @property
    def key(self) -> str:
        """The log id this reader's events are stored under."""
        return self.segment or self.log_id


def put_cursor(
    conn: Connection, insert: Callable[[sa.Table], Any], collector: str, cur: Cursor
) -> None:
    """Store ``collector``'s cursor of ``cur.source``; ``cur.missed`` and ``cur.went_back`` add
    to the counts stored. ``insert`` is the dialect's insert (it has ON CONFLICT)."""
    values = {**dataclasses.asdict(cur), "segment": cur.key, "collector": collector}
    stmt = insert(cursors).values(values)
    update: dict[str, Any] = {
        k: stmt.excluded[k] for k in values if k not in ("source", "collector")
    }
    update["missed"] = cursors.c.missed + stmt.excluded.missed
    update["went_back"] = cursors.c.went_back + stmt.excluded.went_back
    conn.execute(stmt.on_conflict_do_update(index_elements=["collector", "source"], set_=update))


def read_cursors(conn: Connection, collector: str) -> dict[str, Cursor]:
    """``collector``'s cursor of every agent, by source URL.

    A source it has no cursor of starts from the one of a schema before per-collector cursors
    (collector ``""``), if any.
    """
    q = sa.select(cursors).where(cursors.c.collector.in_(["", collector]))
    out: dict[str, Cursor] = {}
    for r in conn.execute(q.order_by(cursors.c.collector == collector)):
        m = r._mapping
        fields = {f.name: m[f.name] for f in dataclasses.fields(Cursor)}
        out[m["source"]] = Cursor(**fields)
    return out
