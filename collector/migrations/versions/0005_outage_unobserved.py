"""Outages keep the seconds when no agent could vote for their site (issue 11).

Revision ID: 0005_outage_unobserved
Revises: 0004_security
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_outage_unobserved"
down_revision = "0004_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outages") as batch:
        batch.add_column(
            sa.Column("unobserved", sa.Double, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("outages") as batch:
        batch.drop_column("unobserved")
