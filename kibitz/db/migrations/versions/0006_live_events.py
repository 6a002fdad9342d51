"""live updates: the per-thread event log that event streams replay

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("event_seq", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "events",
        sa.Column(
            "thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", kibitz.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("seq > 0", name=op.f("ck_events_seq_positive")),
        sa.CheckConstraint(
            "kind IN ('comment', 'edit', 'delete', 'vote', 'thread')",
            name=op.f("ck_events_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_events_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thread_id", "seq", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created")
    op.drop_table("events")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("event_seq")
