"""Derived outages as stored, and the sites marked for derivation (each collector's own marks).

Every function takes the connection of a transaction the :class:`~pantau.collector.store.Store`
opened; none commits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pantau.collector.outages import Outage
from pantau.collector.schema import dirty_sites, outages


def mark_sql(mark: str) -> str:
    """The driver-level insert of one (collector, site) mark, ``mark`` its parameter marker."""
    return (
        f"INSERT INTO dirty_sites (collector, site) VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING"
    )


def mark(conn: Connection, sql: str, collector: str, sites: Iterable[str]) -> None:
    """Mark ``sites`` for ``collector``'s derivation (``sql``: :func:`mark_sql`)."""
    rows = [(collector, s) for s in sorted(sites)]
    if rows:
        conn.exec_driver_sql(sql, rows)


def dirty(conn: Connection, collector: str) -> set[str]:
    """The sites marked for ``collector``'s derivation."""
    q = sa.select(dirty_sites.c.site).where(dirty_sites.c.collector == collector)
    return set(conn.scalars(q))


def replace_outages(
    conn: Connection, collector: str, derived: dict[str, Sequence[Outage]], clean: Sequence[str]
) -> None:
    """Replace the outages of the sites in ``derived``; unmark ``clean`` (sorted) for
    ``collector``."""
    for i in range(0, len(clean), 500):
        conn.execute(
            sa.delete(dirty_sites).where(
                dirty_sites.c.collector == collector,
                dirty_sites.c.site.in_(clean[i : i + 500]),
            )
        )
    sites = sorted(derived)
    for i in range(0, len(sites), 500):
        conn.execute(sa.delete(outages).where(outages.c.site.in_(sites[i : i + 500])))
    rows = [_outage_row(o) for site in sites for o in derived[site]]
    if rows:
        conn.execute(sa.insert(outages), rows)


def end_open_outages(conn: Connection, sites: Sequence[str], at: float) -> int:
    """End the open outages of ``sites`` (sorted) at ``at``; how many."""
    ended = 0
    for i in range(0, len(sites), 500):
        result = conn.execute(
            sa.update(outages)
            .where(
                outages.c.site.in_(sites[i : i + 500]),
                outages.c.end.is_(None),
                outages.c.start <= at,
            )
            .values(end=at, duration=at - outages.c.start - outages.c.unobserved)
        )
        ended += result.rowcount or 0
    return ended


def read_outages(
    conn: Connection,
    site: str | None = None,
    district: str | None = None,
    open_only: bool | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 1000,
) -> list[Outage]:
    """Outages, newest first; ``start``/``end`` select those overlapping the period."""
    q = sa.select(outages).order_by(outages.c.start.desc(), outages.c.site).limit(limit)
    if site:
        q = q.where(outages.c.site == site)
    if district:
        q = q.where(outages.c.district == district)
    if open_only is not None:
        q = q.where(outages.c.end.is_(None) if open_only else outages.c.end.is_not(None))
    if start is not None:
        q = q.where(sa.or_(outages.c.end.is_(None), outages.c.end > start))
    if end is not None:
        q = q.where(outages.c.start < end)
    return [_outage(r) for r in conn.execute(q)]


def _outage_row(o: Outage) -> dict[str, object]:
    row = dataclasses.asdict(o)
    row["agents"] = ",".join(o.agents)
    row["duration"] = None if o.end is None else o.duration(o.end)
    return row


def _outage(r: sa.Row[object]) -> Outage:
    m = r._mapping
    return Outage(
        m["site"],
        m["district"],
        m["start"],
        m["end"],
        m["cause"],
        tuple(a for a in m["agents"].split(",") if a),
        m["hop"],
        m["flapping"],
        m["transitions"],
        m["unobserved"],
    )
