"""donor erasure and thread policies: the ledger lets a donor's words be redacted, never the
money; a thread's own moderation policy

Revision ID: 0013
Revises: 0012

Until now the ledger's triggers refused every UPDATE. A reader's erasure must take out what a
donor wrote on their gifts (the message, the public name); so the UPDATE trigger now lets
through exactly that: message and public name set to NULL (and the display to anonymous, which
a gift without a public name must have), every other column unchanged. DELETE stays refused.

threads.policy: what a thread changes of the site's moderation settings (JSON; NULL: none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APPEND_ONLY = "ledger entries are append-only: record a refund or an adjustment instead"
# the ledger's columns as of this revision, but the redactable ones (frozen here: a later
# column is added to the trigger by the migration that adds it)
FIXED = (
    "id", "campaign_id", "kind", "amount", "currency", "fx_rate", "counted_amount",
    "counted_currency", "counts_at", "occurred_at", "recorded_at", "source", "method",
    "frequency", "donor_id", "reverses_id", "provider_ref", "provider_payment_id",
    "provider_charge_id", "provider_invoice_id", "provider_subscription_id",
    "provider_customer_id", "note",
)  # fmt: skip
REDACTION_ONLY = " OR ".join(
    [
        *(f"NEW.{name} IS NOT OLD.{name}" for name in FIXED),
        "(NEW.message IS NOT NULL AND NEW.message IS NOT OLD.message)",
        "(NEW.public_name IS NOT NULL AND NEW.public_name IS NOT OLD.public_name)",
        "(NEW.display <> 'anonymous' AND NEW.display IS NOT OLD.display)",
    ]
)
REDACTED = "ARRAY['message', 'public_name', 'display']"

SQLITE_BEFORE = (
    "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
)
SQLITE_AFTER = (
    "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
    f"WHEN {REDACTION_ONLY} "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
)
POSTGRES_BEFORE = (
    "CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
)
POSTGRES_AFTER = (
    "CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' "
    f"AND to_jsonb(NEW) - {REDACTED} = to_jsonb(OLD) - {REDACTED} "
    "AND (NEW.message IS NULL OR NEW.message IS NOT DISTINCT FROM OLD.message) "
    "AND (NEW.public_name IS NULL OR NEW.public_name IS NOT DISTINCT FROM OLD.public_name) "
    "AND (NEW.display = 'anonymous' OR NEW.display IS NOT DISTINCT FROM OLD.display) "
    f"THEN RETURN NEW; END IF; RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
)


def _guard(sqlite: str, postgres: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
        op.execute(sqlite)
    else:
        op.execute(postgres)  # the trigger calls the function by name: it stays


def upgrade() -> None:
    _guard(SQLITE_AFTER, POSTGRES_AFTER)
    # a plain ADD COLUMN (no batch): SQLite need not rebuild the threads table for it
    op.add_column("threads", sa.Column("policy", sa.Text(), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+ and PostgreSQL): a batch rebuild of threads is not needed
    op.execute("ALTER TABLE threads DROP COLUMN policy")
    _guard(SQLITE_BEFORE, POSTGRES_BEFORE)
