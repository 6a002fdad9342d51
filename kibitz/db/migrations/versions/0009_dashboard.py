"""dashboard: comments closed to replies, imports run from the dashboard

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    # a plain ADD COLUMN (no batch): SQLite need not rebuild the comments table for it
    op.add_column("comments", sa.Column("replies_closed_at", When, nullable=True))
    op.create_table(
        "import_jobs",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_path", sa.String(length=1000), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("done", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("finished_at", When, nullable=True),
        sa.CheckConstraint(
            "state IN ('running', 'done', 'failed')", name=op.f("ck_import_jobs_state_known")
        ),
        sa.CheckConstraint(
            "done >= 0 AND file_size >= 0", name=op.f("ck_import_jobs_counts_positive")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_import_jobs_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_state", "import_jobs", ["state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_jobs_state", table_name="import_jobs")
    op.drop_table("import_jobs")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("replies_closed_at")
