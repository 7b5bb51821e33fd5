"""Stored agent events: their rows, the idempotent insert, and the reads in replay order.

Every function takes the connection of a transaction the :class:`~pantau.collector.store.Store`
opened; none commits.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pantau.collector.schema import events
from pantau.events import OBSERVING, Event

#: Event columns in the order of :class:`Event`'s fields, so a row builds an Event directly.
_EVENT_COLUMNS = (
    "agent",
    "type",
    "site",
    "probe",
    "old",
    "new",
    "time",
    "reason",
    "isolated",
    "hop",
    "cursor",
)
_INSERT_COLUMNS = ("log_id", *_EVENT_COLUMNS)
_event_fields = operator.attrgetter(*_EVENT_COLUMNS)
#: Stored event times outside this range are not read back: they cannot be rendered (years
#: 1 to 9999 UTC). Ingest refuses them (pagecheck); a store written before it may hold some.
SANE_TIMES = (-62135596800.0, 253402300799.0)


def fit(text: str | None, width: int) -> str | None:
    """``text`` made to fit a column of ``width`` characters, still unique (hash suffix).

    An HTTP probe's URL may be longer than the ``probe`` column; PostgreSQL would refuse the row
    and, with it, the whole page. The shortened value keeps its start and a digest of the rest.
    """
    if text is None or len(text) <= width:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: width - 17]}~{digest}"


def row(segment: str, e: Event) -> tuple[object, ...]:
    """The insert parameters of ``e`` stored under log id ``segment``."""
    agent, type_, site, probe, old, new, t, reason, isolated, hop, cursor = _event_fields(e)
    return (
        segment,
        agent,
        type_,
        site,
        fit(probe, 512),
        old,
        new,
        t,
        reason,
        isolated,
        fit(hop, 256),
        cursor,
    )


def insert_sql(mark: str) -> str:
    """The driver-level insert of one :func:`row`, ``mark`` its parameter marker; a row already
    stored (same agent, log id, cursor) is skipped."""
    return (
        f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))}) "
        "ON CONFLICT (agent, log_id, cursor) DO NOTHING"
    )


def sites_of(conn: Connection, agent: str) -> set[str]:
    """Every site ``agent`` has reported events of."""
    q = sa.select(events.c.site).where(events.c.agent == agent, events.c.type == "site")
    return set(conn.scalars(q.distinct()))


def event_at(conn: Connection, agent: str, log_id: str, cursor: int) -> Event | None:
    """The event stored at ``cursor`` of ``agent``'s log ``log_id`` (any of its segments),
    the newest segment's if several; None when not stored."""
    cols = [events.c[c] for c in _EVENT_COLUMNS]
    q = (
        sa.select(*cols)
        .where(
            events.c.agent == agent,
            events.c.cursor == cursor,
            sa.or_(events.c.log_id == log_id, events.c.log_id.startswith(f"{log_id}.")),
        )
        .order_by(events.c.id.desc())
        .limit(1)
    )
    found = conn.execute(q).first()
    return None if found is None else Event(*found)


def site_event_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Stored site events per (agent, site)."""
    q = (
        sa.select(events.c.agent, events.c.site, sa.func.count())
        .where(events.c.type == "site")
        .group_by(events.c.agent, events.c.site)
    )
    return {(a, s): int(n) for a, s, n in conn.execute(q)}


def events_for(
    conn: Connection,
    sites: Iterable[str],
    agent_down: Mapping[str, Sequence[tuple[float, float | None]]] | None = None,
) -> list[Event]:
    """Every stored site event of ``sites`` and every agent event, in replay order.

    Of the agents' ``observing`` checkpoints only those inside ``agent_down`` (the periods
    the collector could not reach their agent) are read: elsewhere they change nothing.
    """
    sites = sorted(set(sites))
    cols = [events.c[c] for c in _EVENT_COLUMNS]
    out: list[Event] = []
    sane = events.c.time.between(*SANE_TIMES)  # one stored before times were checked
    for i in range(0, len(sites), 500):
        q = sa.select(*cols).where(events.c.site.in_(sites[i : i + 500]), sane)
        out.extend(Event(*r) for r in conn.execute(q))
    agent_events = events.c.type == "agent"
    q = sa.select(*cols).where(agent_events, events.c.reason != OBSERVING, sane)
    out.extend(Event(*r) for r in conn.execute(q))
    windows = [
        sa.and_(
            events.c.agent == agent,
            events.c.time >= start,
            *(() if end is None else (events.c.time < end,)),
        )
        for agent, periods in sorted((agent_down or {}).items())
        for start, end in periods
    ]
    for i in range(0, len(windows), 200):
        q = sa.select(*cols).where(
            agent_events, events.c.reason == OBSERVING, sa.or_(*windows[i : i + 200])
        )
        out.extend(Event(*r) for r in conn.execute(q))
    out.sort(key=lambda e: (e.time, e.agent, e.cursor))
    return out


def count_events(conn: Connection) -> int:
    """Events stored, of every agent."""
    return int(conn.scalar(sa.select(sa.func.count()).select_from(events)) or 0)
