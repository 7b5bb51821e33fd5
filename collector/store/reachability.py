"""When this collector could and could not reach each agent: its status changes, as periods.

Every function takes the connection of a transaction the :class:`~pantau.collector.store.Store`
opened; none commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pantau.collector.schema import agent_status

#: Unreachable periods, each (start, end); end None: still unreachable.
Periods = list[tuple[float, float | None]]


def record_status(conn: Connection, collector: str, agent: str, time: float, up: bool) -> None:
    """Record that ``collector`` could (``up``) or could not reach ``agent`` from ``time``."""
    row = {"agent": agent, "time": time, "up": up, "collector": collector}
    conn.execute(sa.insert(agent_status).values(row))


def agent_down(conn: Connection, collector: str) -> dict[str, Periods]:
    """Per agent, the periods when ``collector`` could not reach it."""
    q = (
        sa.select(agent_status)
        .where(agent_status.c.collector == collector)
        .order_by(agent_status.c.agent, agent_status.c.time)
    )
    rows: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        rows.setdefault(r.agent, []).append(r)
    return {agent: _periods(mine) for agent, mine in rows.items()}


def down_during(conn: Connection, collector: str, agent: str, times: Sequence[float]) -> bool:
    """Whether any of ``times`` falls in a period ``collector`` could not reach ``agent``."""
    q = (
        sa.select(agent_status.c.time, agent_status.c.up)
        .where(agent_status.c.collector == collector, agent_status.c.agent == agent)
        .order_by(agent_status.c.time)
    )
    periods = _periods(conn.execute(q))
    return any(s <= t and (e is None or t < e) for s, e in periods for t in times)


def _periods(rows: Iterable[Any]) -> Periods:
    """Unreachable periods from one agent's status rows in time order (end None: still)."""
    mine: Periods = []
    for r in rows:
        if not r.up and (not mine or mine[-1][1] is not None):
            mine.append((r.time, None))
        elif r.up and mine and mine[-1][1] is None:
            mine[-1] = (mine[-1][0], r.time)
    return mine
