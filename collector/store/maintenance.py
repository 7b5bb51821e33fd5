"""What operators write through the API: maintenance windows, and the audit trail of writes.

Every function takes the connection of a transaction the :class:`~pantau.collector.store.Store`
opened; none commits. A write and its audit record share that transaction.
"""

from __future__ import annotations

import dataclasses
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pantau.collector.audit import AuditRecord
from pantau.collector.availability import Maintenance
from pantau.collector.schema import audit, maintenance

log = logging.getLogger(__name__)

#: Times every answer can show (RFC 3339 with a four-digit year): 1970 to 9998.
_LOWEST, _HIGHEST = 0.0, 253370764800.0


def add_window(conn: Connection, window: Maintenance, origin: str) -> int:
    """Store ``window``; its id."""
    values = {k: getattr(window, k) for k in ("site", "district", "start", "end", "reason")}
    stmt = sa.insert(maintenance).values(**values, origin=origin)
    return int(conn.execute(stmt.returning(maintenance.c.id)).scalar_one())


def delete_window(conn: Connection, wid: int) -> bool:
    """Delete stored window ``wid``; False when there is none."""
    return bool(conn.execute(sa.delete(maintenance).where(maintenance.c.id == wid)).rowcount)


def read_windows(conn: Connection) -> list[Maintenance]:
    """Windows added through the API, by start; one that no answer could show is skipped."""
    q = sa.select(maintenance).order_by(maintenance.c.start)
    out = []
    for r in list(conn.execute(q)):
        if not _LOWEST <= r.start < r.end <= _HIGHEST:
            # Stored before writes were bounded (e.g. year 0001): it would break every
            # answer that shows it. Skipped, and said how to remove it.
            log.warning(
                "maintenance window outside the years 1970-9998 skipped; delete it with "
                "DELETE /api/v1/maintenance/%d id=%d",
                r.id,
                r.id,
            )
            continue
        out.append(Maintenance(r.start, r.end, r.site, r.district, r.reason, r.id))
    return out


def add_audit(conn: Connection, record: AuditRecord) -> None:
    """Store ``record`` (its ``id`` is the store's to give)."""
    row = dataclasses.asdict(record)
    del row["id"]
    conn.execute(sa.insert(audit).values(**row))


def read_audit(conn: Connection, limit: int) -> list[AuditRecord]:
    """The newest ``limit`` audit records, newest first."""
    q = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
    return [AuditRecord(**r._asdict()) for r in conn.execute(q)]
