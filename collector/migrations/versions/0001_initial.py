"""Initial collector schema: events, cursors, agent status, outages, dirty sites, maintenance.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("log_id", sa.String(128), nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("site", sa.String(64)),
        sa.Column("probe", sa.String(512)),
        sa.Column("old", sa.String(16), nullable=False),
        sa.Column("new", sa.String(16), nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("isolated", sa.Boolean, nullable=False),
        sa.Column("hop", sa.String(256)),
        sa.UniqueConstraint("agent", "log_id", "cursor", name="uq_events_agent_log_cursor"),
    )
    op.create_index("ix_events_site_time", "events", ["site", "time"])
    op.create_index(
        "ix_events_agent_events",
        "events",
        ["agent"],
        sqlite_where=sa.text("type = 'agent'"),
        postgresql_where=sa.text("type = 'agent'"),
    )
    op.create_table(
        "cursors",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("log_id", sa.String(128), nullable=False),
        sa.Column("next", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
        sa.Column("missed", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agent_status",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("up", sa.Boolean, nullable=False),
    )
    op.create_index("ix_agent_status_agent_time", "agent_status", ["agent", "time"])
    op.create_table(
        "outages",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("district", sa.String(64)),
        sa.Column("start", sa.Double, nullable=False),
        sa.Column("end", sa.Double),
        sa.Column("duration", sa.Double),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("agents", sa.Text, nullable=False),
        sa.Column("hop", sa.String(256)),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("transitions", sa.Integer, nullable=False),
        sa.UniqueConstraint("site", "start", name="uq_outages_site_start"),
    )
    op.create_index("ix_outages_district_start", "outages", ["district", "start"])
    op.create_table("dirty_sites", sa.Column("site", sa.String(64), primary_key=True))
    op.create_table(
        "maintenance",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(64)),
        sa.Column("district", sa.String(64)),
        sa.Column("start", sa.Double, nullable=False),
        sa.Column("end", sa.Double, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    for table in ("maintenance", "dirty_sites", "outages", "agent_status", "cursors", "events"):
        op.drop_table(table)
