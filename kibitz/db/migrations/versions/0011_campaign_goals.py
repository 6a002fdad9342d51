"""campaign goals: each period keeps the goal it had

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.db.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.db.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign_goals",
        sa.Column("id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("effective_from", When, nullable=False),
        sa.Column("goal", sa.BigInteger(), nullable=False),
        sa.Column("milestones", sa.String(length=500), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint("goal > 0", name=op.f("ck_campaign_goals_goal_positive")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_goals_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_goals")),
        sa.UniqueConstraint(
            "campaign_id", "effective_from", name="uq_campaign_goals_campaign_from"
        ),
    )
    # every campaign's goal so far holds from its first period on
    op.execute(
        "INSERT INTO campaign_goals (campaign_id, effective_from, goal, milestones, created_at) "
        "SELECT id, starts_at, goal, milestones, updated_at FROM campaigns"
    )


def downgrade() -> None:
    op.drop_table("campaign_goals")
