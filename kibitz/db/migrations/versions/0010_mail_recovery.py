"""mail recovery: a comment's status version (moderators' links name the hold they were made
for), an outbox row's re-queue time (an admin's retry restarts its give-up clock)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

When = kibitz.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    # plain ADD COLUMNs (no batch): SQLite need not rebuild the tables for them
    op.add_column(
        "comments",
        sa.Column("status_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("outbox", sa.Column("retried_at", When, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("retried_at")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("status_version")
