"""The collector's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are Unix seconds in double precision. The Alembic scripts in ``migrations/`` create exactly
these tables; ``tests/test_collector_store.py`` checks that they agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Raw events as the agents logged them; ``(agent, log_id, cursor)`` makes ingest idempotent.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("agent", String(128), nullable=False),
    Column("log_id", String(128), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("type", String(8), nullable=False),
    Column("site", String(64)),
    Column("probe", String(512)),
    Column("old", String(16), nullable=False),
    Column("new", String(16), nullable=False),
    Column("time", Double, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("isolated", Boolean, nullable=False),
    Column("hop", String(256)),
    UniqueConstraint("agent", "log_id", "cursor", name="uq_events_agent_log_cursor"),
    Index("ix_events_site_time", "site", "time"),
    # Only agent (isolation) events are looked up by type; a partial index keeps ingest cheap.
    Index(
        "ix_events_agent_events",
        "agent",
        sqlite_where=sa.text("type = 'agent'"),
        postgresql_where=sa.text("type = 'agent'"),
    ),
)

#: Where each collector is in each agent's log; written in the transaction of the events it covers.
#: Keyed by collector too: regional collectors sharing one database each read every agent they
#: pull from their own position. ``agent``/``log_id`` pin the identity answering at ``source``;
#: ``segment`` is the log_id events are stored under (``LOG_ID.N`` after the log went back N times).
cursors = Table(
    "cursors",
    metadata,
    Column("collector", String(128), primary_key=True),
    Column("source", String(512), primary_key=True),
    Column("agent", String(128), nullable=False),
    Column("log_id", String(128), nullable=False),
    Column("segment", String(128), nullable=False),
    Column("next", BigInteger, nullable=False),
    Column("updated", Double, nullable=False),
    # events counted lost in all (retention and the rest) ...
    Column("missed", BigInteger, nullable=False),
    # ... and those of them lost to a log that went back (migration 0006_cursor_went_back)
    Column("went_back", BigInteger, nullable=False, server_default=sa.text("0")),
)

#: When the collector could (up) or could not (down) reach an agent.
agent_status = Table(
    "agent_status",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("agent", String(128), nullable=False),
    Column("time", Double, nullable=False),
    Column("up", Boolean, nullable=False),
    Column("collector", String(128), nullable=False, server_default=""),
    Index("ix_agent_status_agent_time", "agent", "time"),
)

#: Derived from events; replaced per site whenever that site's events change.
outages = Table(
    "outages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("district", String(64)),
    Column("start", Double, nullable=False),
    Column("end", Double),
    Column("duration", Double),
    Column("cause", String(16), nullable=False),
    Column("agents", Text, nullable=False),
    Column("hop", String(256)),
    Column("flapping", Boolean, nullable=False),
    Column("transitions", Integer, nullable=False),
    # seconds of the outage when no agent could vote (migration 0005_outage_unobserved)
    Column("unobserved", Double, nullable=False, server_default=sa.text("0")),
    UniqueConstraint("site", "start", name="uq_outages_site_start"),
    Index("ix_outages_district_start", "district", "start"),
)

#: Sites whose events changed since each collector last derived their outages.
dirty_sites = Table(
    "dirty_sites",
    metadata,
    Column("collector", String(128), primary_key=True),
    Column("site", String(64), primary_key=True),
)

maintenance = Table(
    "maintenance",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("site", String(64)),
    Column("district", String(64)),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("reason", Text, nullable=False),
    Column("origin", String(8), nullable=False),  # "config" or "api"
)

#: Every write through the API (migration 0004_security_audit).
audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("time", Double, nullable=False),
    Column("user", String(128), nullable=False),
    Column("remote", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("target", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_time", "time"),
)
