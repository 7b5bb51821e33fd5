"""Per-collector cursors and dirty sites, pinned agent identity and log segments.

Regional collectors over one database each keep their own position in every agent's log and
their own set of sites to re-derive. ``cursors.segment`` is the log id events are stored under
(it changes when an agent's log went back in time). ``agent_status.collector`` says who could or
could not reach the agent. Rows of before become the cursors of the collector named ``""``,
which a collector without a cursor of its own starts from.

Revision ID: 0003_chain_cursors
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_chain_cursors"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cursors_new",
        sa.Column("collector", sa.String(128), primary_key=True),
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("log_id", sa.String(128), nullable=False),
        sa.Column("segment", sa.String(128), nullable=False),
        sa.Column("next", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
        sa.Column("missed", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO cursors_new (collector, source, agent, log_id, segment, next, updated, missed)"
        " SELECT '', source, agent, log_id, log_id, next, updated, missed FROM cursors"
    )
    op.drop_table("cursors")
    op.rename_table("cursors_new", "cursors")
    # Every collector re-derives all of its sites when it starts: the old marks are not needed.
    op.drop_table("dirty_sites")
    op.create_table(
        "dirty_sites",
        sa.Column("collector", sa.String(128), primary_key=True),
        sa.Column("site", sa.String(64), primary_key=True),
    )
    with op.batch_alter_table("agent_status") as batch:
        batch.add_column(sa.Column("collector", sa.String(128), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("agent_status") as batch:
        batch.drop_column("collector")
    op.drop_table("dirty_sites")
    op.create_table("dirty_sites", sa.Column("site", sa.String(64), primary_key=True))
    op.create_table(
        "cursors_old",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("log_id", sa.String(128), nullable=False),
        sa.Column("next", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
        sa.Column("missed", sa.BigInteger, nullable=False),
    )
    # One cursor per source again: the furthest behind, so that nothing is skipped (what is
    # read twice is stored once).
    rows = op.get_bind().execute(
        sa.text("SELECT source, agent, log_id, next, updated, missed FROM cursors ORDER BY next")
    )
    kept: dict[str, dict[str, object]] = {}
    for row in rows.mappings():
        kept.setdefault(str(row["source"]), dict(row))
    if kept:
        old = sa.table(
            "cursors_old",
            *(sa.column(c) for c in ("source", "agent", "log_id", "next", "updated", "missed")),
        )
        op.bulk_insert(old, list(kept.values()))
    op.drop_table("cursors")
    op.rename_table("cursors_old", "cursors")
