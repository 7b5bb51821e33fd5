"""Cursors keep the events lost to a log that went back (or an identity accepted) apart from
the total they already kept, so the lost count by reason survives a collector restart (issue 12).

Revision ID: 0006_cursor_went_back
Revises: 0005_outage_unobserved
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_cursor_went_back"
down_revision = "0005_outage_unobserved"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``missed`` stays the total lost (as before); ``went_back`` is the part of it lost to a log
    # that went back or was replaced. Rows of before count all their losses as retention.
    with op.batch_alter_table("cursors") as batch:
        batch.add_column(
            sa.Column("went_back", sa.BigInteger, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("went_back")
