"""import records: where imported threads and comments came from

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "import_records",
        sa.Column("id", Id, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("thread_id", Id, nullable=False),
        sa.Column("comment_id", Id, nullable=True),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("imported_at", kibitz.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('thread', 'comment')", name=op.f("ck_import_records_kind_known")
        ),
        sa.CheckConstraint(
            "(kind = 'comment') = (comment_id IS NOT NULL)",
            name=op.f("ck_import_records_comment_for_comment"),
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_import_records_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_import_records_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_records")),
        sa.UniqueConstraint("source", "kind", "source_id", name="uq_import_records_source_kind_id"),
    )
    with op.batch_alter_table("import_records", schema=None) as batch_op:
        batch_op.create_index("ix_import_records_thread", ["thread_id"], unique=False)
        batch_op.create_index("ix_import_records_comment", ["comment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_records", schema=None) as batch_op:
        batch_op.drop_index("ix_import_records_comment")
        batch_op.drop_index("ix_import_records_thread")
    op.drop_table("import_records")
