"""articles served by kibitz

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("published_at", kibitz.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("image_credit", sa.String(length=300), nullable=True),
        sa.Column("summary", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("body_md", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", kibitz.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kibitz.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("path LIKE '/%'", name=op.f("ck_articles_path_is_absolute")),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_articles_title_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("path", name=op.f("uq_articles_path")),
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index("ix_articles_published", ["published_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_published")
    op.drop_table("articles")
