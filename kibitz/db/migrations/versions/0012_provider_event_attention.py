"""provider events kibitz could not record are kept for a person, with the reason

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OLD = "outcome IN ('applied', 'ignored', 'deferred', 'resolved')"
NEW = "outcome IN ('applied', 'ignored', 'deferred', 'resolved', 'needs_attention', 'handled')"


def upgrade() -> None:
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.drop_constraint(op.f("ck_provider_events_outcome_known"), type_="check")
        batch_op.create_check_constraint("outcome_known", NEW)


def downgrade() -> None:
    op.execute(
        "UPDATE provider_events SET outcome = 'ignored' "
        "WHERE outcome IN ('needs_attention', 'handled')"
    )
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_provider_events_outcome_known"), type_="check")
        batch_op.create_check_constraint("outcome_known", OLD)
        batch_op.drop_column("reason")
