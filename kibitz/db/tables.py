"""The schema: every table kibitz stores, with the invariants the database enforces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


COMMENT_STATUSES = ("approved", "pending", "spam", "rejected", "deleted")

threads = Table(
    "threads",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("title", String(300), nullable=False, server_default=""),
    Column("url", String(2048), nullable=False, server_default=""),
    Column("closed", Boolean, nullable=False, server_default=text("false")),
    # approved comments, kept in step with every write
    Column("comment_count", Integer, nullable=False, server_default="0"),
    # bumped on every write that changes what a reader of the thread sees
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_comment_at", UTCDateTime, nullable=True),
    # live updates: the number of the thread's newest event (kibitz/live/events.py)
    Column("event_seq", Integer, nullable=False, server_default="0"),
    CheckConstraint("comment_count >= 0", name="comment_count_nonnegative"),
    CheckConstraint("length(key) > 0", name="key_not_empty"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Id, ForeignKey("comments.id"), nullable=True),
    # the top-level ancestor (NULL for top-level comments): one query loads a whole subtree
    Column("root_id", Id, ForeignKey("comments.id"), nullable=True),
    Column("depth", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("author_name", String(100), nullable=False),
    Column("author_email", String(254), nullable=True),
    Column("author_url", String(2048), nullable=True),
    Column("body_md", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime, nullable=True),
    Column("deleted_at", UTCDateTime, nullable=True),
    Column("up", Integer, nullable=False, server_default="0"),
    Column("down", Integer, nullable=False, server_default="0"),
    Column("score", Integer, nullable=False, server_default="0"),
    Column("wilson", Float, nullable=False, server_default="0"),
    # direct replies that are visible (approved, or deleted placeholders with replies)
    Column("reply_count", Integer, nullable=False, server_default="0"),
    Column("edit_token_hash", String(64), nullable=True),
    Column("voter_id", String(64), nullable=True),
    Column("ip_hash", String(64), nullable=True),
    # inline feedback: the passage of the article this top-level comment is about
    Column("passage_id", Id, ForeignKey("passages.id"), nullable=True),
    CheckConstraint(
        "status IN ('approved', 'pending', 'spam', 'rejected', 'deleted')", name="status_known"
    ),
    CheckConstraint("up >= 0 AND down >= 0", name="votes_nonnegative"),
    CheckConstraint("score = up - down", name="score_is_up_minus_down"),
    CheckConstraint("reply_count >= 0", name="reply_count_nonnegative"),
    CheckConstraint("depth >= 0", name="depth_nonnegative"),
    CheckConstraint(
        "(parent_id IS NULL AND root_id IS NULL AND depth = 0)"
        " OR (parent_id IS NOT NULL AND root_id IS NOT NULL AND depth > 0)",
        name="tree_shape",
    ),
    CheckConstraint("passage_id IS NULL OR parent_id IS NULL", name="passage_on_top_level"),
)


def _top_level(name: str, *columns: Any) -> Index:
    """An index over top-level comments only: what the first page of a sort order reads."""
    where = text("parent_id IS NULL")
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


# First pages of every sort order read an index, however long the thread is.
_top_level("ix_comments_top_created", comments.c.thread_id, comments.c.created_at, comments.c.id)
_top_level(
    "ix_comments_top_score",
    comments.c.thread_id, comments.c.score.desc(), comments.c.created_at, comments.c.id,
)  # fmt: skip
_top_level(
    "ix_comments_top_wilson",
    comments.c.thread_id, comments.c.wilson.desc(), comments.c.created_at, comments.c.id,
)  # fmt: skip
Index("ix_comments_root", comments.c.root_id, comments.c.created_at, comments.c.id)
Index("ix_comments_parent", comments.c.parent_id)
Index("ix_comments_recent", comments.c.created_at, comments.c.id)
# a thread's feed: its approved comments, newest first
Index(
    "ix_comments_thread_recent",
    comments.c.thread_id, comments.c.status, comments.c.created_at, comments.c.id,
)  # fmt: skip

votes = Table(
    "votes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("voter_id", String(64), nullable=False),
    Column("value", SmallInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("comment_id", "voter_id", name="uq_votes_comment_voter"),
    CheckConstraint("value IN (-1, 1)", name="value_up_or_down"),
)
Index("ix_votes_voter", votes.c.voter_id)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

# Articles that kibitz serves itself (the publisher's own pages come with their own thread key).
articles = Table(
    "articles",
    metadata,
    Column("id", Id, primary_key=True),
    # the clean URL path, also the key of the article's thread
    Column("path", String(512), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("image_url", String(2048), nullable=True),
    Column("image_credit", String(300), nullable=True),
    Column("summary", String(1000), nullable=False, server_default=""),
    Column("body_md", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("path LIKE '/%'", name="path_is_absolute"),
    CheckConstraint("length(title) > 0", name="title_not_empty"),
)
Index("ix_articles_published", articles.c.published_at)

# -- notifications: who wants mail, and everything waiting to be sent

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True),
    # the address as given, and the form every lookup uses (trimmed, lower case)
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Column("confirmation_sent_at", UTCDateTime, nullable=True),
    Column("digest", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
)

SUBSCRIPTION_KINDS = ("thread", "replies", "comment")

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    # thread: every new comment; replies: replies to my comments; comment: replies to one
    Column("kind", String(16), nullable=False),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # "kind:thread:comment", so that one subscription exists once (NULLs are never equal)
    Column("target", String(64), nullable=False),
    UniqueConstraint("subscriber_id", "target", name="uq_subscriptions_subscriber_target"),
    CheckConstraint("kind IN ('thread', 'replies', 'comment')", name="kind_known"),
    CheckConstraint(
        "(kind = 'comment') = (comment_id IS NOT NULL)", name="comment_only_for_comment_kind"
    ),
)
Index("ix_subscriptions_thread", subscriptions.c.thread_id, subscriptions.c.kind)
Index("ix_subscriptions_comment", subscriptions.c.comment_id)

# comments waiting for a subscriber's daily digest
digest_items = Table(
    "digest_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscriber_id", "comment_id", name="uq_digest_items_subscriber_comment"),
)

OUTBOX_STATUSES = ("queued", "sending", "sent", "failed")

# Everything sent later (mail, webhooks, fan-outs), written in the transaction of its cause.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("topic", String(16), nullable=False),
    # the same event never queues twice
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # a claimed row whose lease runs out is taken up again (its worker died)
    Column("locked_until", UTCDateTime, nullable=True),
    Column("locked_by", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name="status_known"),
    CheckConstraint("topic IN ('mail', 'fanout', 'webhook')", name="topic_known"),
    CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

# -- reader funding: campaigns, the append-only donations ledger, payments in flight

CAMPAIGN_PERIODS = ("monthly", "fixed")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Id, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # monthly: every calendar month in the site's time zone is its own goal; fixed: one range
    Column("period", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("goal", BigInteger, nullable=False),
    # minor units, comma-separated; NULL means the default ticks 0, half and goal
    Column("milestones", String(500), nullable=True),
    Column("suggested_amounts", String(500), nullable=False),
    Column("min_amount", BigInteger, nullable=False),
    Column("max_amount", BigInteger, nullable=False),
    Column("supporter_wall", Boolean, nullable=False, server_default=text("true")),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # what the ledger's composite foreign key points at: an entry counts in its campaign's
    # currency, and that currency cannot change under it
    UniqueConstraint("id", "currency", name="uq_campaigns_id_currency"),
    CheckConstraint("period IN ('monthly', 'fixed')", name="period_known"),
    CheckConstraint("length(currency) = 3", name="currency_code"),
    CheckConstraint("goal > 0", name="goal_positive"),
    CheckConstraint("min_amount > 0 AND max_amount >= min_amount", name="bounds"),
    CheckConstraint("period = 'monthly' OR ends_at IS NOT NULL", name="fixed_has_end"),
    CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends_after_start"),
    CheckConstraint("length(slug) > 0", name="slug_not_empty"),
)

# Each period's goal: the goal (and ticks) of a period is the latest row effective at the
# period's start, so changing a goal leaves the months before it as they were. A change made
# during a month takes effect from that month. campaigns.goal and campaigns.milestones are the
# current ones, written in the same transaction. The currency is the campaign's (fixed).
campaign_goals = Table(
    "campaign_goals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("campaign_id", Id, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    # the start of the first period this goal is for (UTC)
    Column("effective_from", UTCDateTime, nullable=False),
    Column("goal", BigInteger, nullable=False),
    # minor units, comma-separated; NULL means the default ticks 0, half and goal
    Column("milestones", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("campaign_id", "effective_from", name="uq_campaign_goals_campaign_from"),
    CheckConstraint("goal > 0", name="goal_positive"),
)

# who gave: private, never shown; kept apart from the ledger so it can be corrected or erased
donors = Table(
    "donors",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(254), nullable=True),
    # trimmed, lower case; NULL for gifts without an address (cash, some transfers)
    Column("email_key", String(254), nullable=True, unique=True),
    Column("name", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

LEDGER_KINDS = ("donation", "refund", "chargeback", "adjustment")
LEDGER_SOURCES = ("stripe", "manual", "csv")

# Append-only: triggers on both engines refuse UPDATE and DELETE (see LEDGER_GUARDS), but for
# the one redaction a donor's erasure makes.
ledger = Table(
    "ledger_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("campaign_id", Id, nullable=False),
    Column("kind", String(16), nullable=False),
    # the money that moved, signed (refunds and chargebacks are negative), in its currency
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # units of the campaign's currency per unit of `currency`, exactly as used; NULL if same
    Column("fx_rate", String(40), nullable=True),
    # what the entry adds to the campaign's total, in the campaign's currency
    Column("counted_amount", BigInteger, nullable=False),
    Column("counted_currency", String(3), nullable=False),
    # decides the period: a donation's own time; a refund or chargeback its donation's
    Column("counts_at", UTCDateTime, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    # card, bank_transfer, paypal, crypto, cash, other
    Column("method", String(32), nullable=True),
    Column("frequency", String(16), nullable=False, server_default="one_time"),
    Column("donor_id", Id, ForeignKey("donors.id"), nullable=True),
    # how the donor wants to appear: by `public_name`, or anonymous
    Column("display", String(16), nullable=False, server_default="anonymous"),
    Column("public_name", String(100), nullable=True),
    Column("message", String(500), nullable=True),
    Column("reverses_id", Id, ForeignKey("ledger_entries.id"), nullable=True),
    # what makes an entry unique at its source (a payment, an invoice, a refund total, a CSV
    # line): a retried webhook or a re-imported file adds nothing
    Column("provider_ref", String(200), nullable=True, unique=True),
    Column("provider_payment_id", String(200), nullable=True),
    Column("provider_charge_id", String(200), nullable=True),
    Column("provider_invoice_id", String(200), nullable=True),
    Column("provider_subscription_id", String(200), nullable=True),
    Column("provider_customer_id", String(200), nullable=True),
    Column("note", String(500), nullable=True),
    ForeignKeyConstraint(
        ["campaign_id", "counted_currency"],
        ["campaigns.id", "campaigns.currency"],
        name="fk_ledger_entries_campaign_currency",
    ),
    CheckConstraint(
        "kind IN ('donation', 'refund', 'chargeback', 'adjustment')", name="kind_known"
    ),
    CheckConstraint("source IN ('stripe', 'manual', 'csv')", name="source_known"),
    CheckConstraint("frequency IN ('one_time', 'monthly')", name="frequency_known"),
    CheckConstraint("display IN ('name', 'anonymous')", name="display_known"),
    CheckConstraint("display = 'anonymous' OR public_name IS NOT NULL", name="named_has_name"),
    CheckConstraint("length(currency) = 3", name="currency_code"),
    CheckConstraint(
        "(kind = 'donation' AND amount > 0 AND counted_amount >= 0 AND reverses_id IS NULL)"
        " OR (kind IN ('refund', 'chargeback') AND amount < 0 AND counted_amount <= 0"
        " AND reverses_id IS NOT NULL)"
        " OR (kind = 'adjustment' AND amount <> 0)",
        name="sign_follows_kind",
    ),
    CheckConstraint(
        "(amount > 0 AND counted_amount >= 0) OR (amount < 0 AND counted_amount <= 0)",
        name="conversion_keeps_sign",
    ),
    CheckConstraint(
        "(currency = counted_currency AND fx_rate IS NULL AND counted_amount = amount)"
        " OR (currency <> counted_currency AND fx_rate IS NOT NULL)",
        name="converted_at_recorded_rate",
    ),
)
Index("ix_ledger_entries_campaign_counts", ledger.c.campaign_id, ledger.c.counts_at)
Index("ix_ledger_entries_reverses", ledger.c.reverses_id)
Index("ix_ledger_entries_payment", ledger.c.provider_payment_id)
Index("ix_ledger_entries_charge", ledger.c.provider_charge_id)
Index("ix_ledger_entries_invoice", ledger.c.provider_invoice_id)
Index("ix_ledger_entries_donor", ledger.c.donor_id)

# The cached total of each campaign period, kept in step with every ledger entry in the
# entry's own transaction; `kibitz check` recomputes them from the ledger and reports drift.
campaign_totals = Table(
    "campaign_totals",
    metadata,
    Column("campaign_id", Id, ForeignKey("campaigns.id"), primary_key=True),
    # "2021-06" for a month of a monthly campaign, "all" for a fixed range
    Column("period_key", String(16), primary_key=True),
    Column("raised", BigInteger, nullable=False, server_default="0"),
    Column("donations", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
)

PAYMENT_STATUSES = ("open", "processing", "paid", "failed", "expired")

# Checkout sessions opened from the donation page, and what became of them. Only webhooks
# move a session on; the ledger gets an entry once money has actually arrived.
payment_sessions = Table(
    "payment_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("session_id", String(200), nullable=False),
    Column("campaign_id", Id, ForeignKey("campaigns.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("frequency", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("ip_hash", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("provider", "session_id", name="uq_payment_sessions_provider_session"),
    CheckConstraint(
        "status IN ('open', 'processing', 'paid', 'failed', 'expired')", name="status_known"
    ),
    CheckConstraint("frequency IN ('one_time', 'monthly')", name="frequency_known"),
    CheckConstraint("amount > 0", name="amount_positive"),
)

# Monthly gifts as the provider runs them: for recurring revenue and the billing portal.
recurring_gifts = Table(
    "recurring_gifts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("subscription_id", String(200), nullable=False),
    Column("customer_id", String(200), nullable=True),
    Column("campaign_id", Id, ForeignKey("campaigns.id"), nullable=False),
    Column("donor_id", Id, ForeignKey("donors.id"), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("provider", "subscription_id", name="uq_recurring_gifts_provider_sub"),
    CheckConstraint("status IN ('active', 'ended')", name="status_known"),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_recurring_gifts_donor", recurring_gifts.c.donor_id)

# Every provider event handled, stored in the transaction of its effect: a duplicate or a
# retry finds its id here and changes nothing. Reversals that arrive before the payment they
# reverse wait here ("deferred", with their payload) until it arrives.
provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("type", String(100), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    # the payment a deferred reversal waits for
    Column("waits_for", String(200), nullable=True),
    Column("payload", Text, nullable=True),
    # why an event needs a person (money the provider took that kibitz could not record)
    Column("reason", Text, nullable=True),
    UniqueConstraint("provider", "event_id", name="uq_provider_events_provider_event"),
    CheckConstraint(
        "outcome IN ('applied', 'ignored', 'deferred', 'resolved', 'needs_attention', 'handled')",
        name="outcome_known",
    ),
)
Index("ix_provider_events_waits_for", provider_events.c.waits_for)

# Which invoice a provider's payment paid (Stripe reports it in a separate event), so that a
# refund of a monthly gift's charge finds its donation.
provider_payments = Table(
    "provider_payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("payment_id", String(200), nullable=False),
    Column("invoice_id", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("provider", "payment_id", name="uq_provider_payments_provider_payment"),
)

APPEND_ONLY = "ledger entries are append-only: record a refund or an adjustment instead"
# What a donor's erasure may take out of their entries (kibitz/services/rights.py): the words
# they chose to show, never the money. Nothing else of an entry ever changes.
LEDGER_REDACTABLE = ("message", "public_name", "display")
_LEDGER_FIXED = [c.name for c in ledger.columns if c.name not in LEDGER_REDACTABLE]
_REDACTION_ONLY_SQLITE = " OR ".join(
    [
        *(f"NEW.{name} IS NOT OLD.{name}" for name in _LEDGER_FIXED),
        "(NEW.message IS NOT NULL AND NEW.message IS NOT OLD.message)",
        "(NEW.public_name IS NOT NULL AND NEW.public_name IS NOT OLD.public_name)",
        "(NEW.display <> 'anonymous' AND NEW.display IS NOT OLD.display)",
    ]
)
_REDACTED = "ARRAY['message', 'public_name', 'display']"
# The ledger refuses DELETE, and every UPDATE but that redaction, in the database itself,
# whoever connects. SQLite names every other column (a test checks that a migrated database
# has the same trigger, so a column added later cannot be forgotten); PostgreSQL compares the
# whole row but the redactable columns.
LEDGER_GUARDS = {
    "sqlite": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        f"WHEN {_REDACTION_ONLY_SQLITE} "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'UPDATE' "
        f"AND to_jsonb(NEW) - {_REDACTED} = to_jsonb(OLD) - {_REDACTED} "
        "AND (NEW.message IS NULL OR NEW.message IS NOT DISTINCT FROM OLD.message) "
        "AND (NEW.public_name IS NULL OR NEW.public_name IS NOT DISTINCT FROM OLD.public_name) "
        "AND (NEW.display = 'anonymous' OR NEW.display IS NOT DISTINCT FROM OLD.display) "
        f"THEN RETURN NEW; END IF; RAISE EXCEPTION '{APPEND_ONLY}'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()",
    ],
}
for _dialect, _statements in LEDGER_GUARDS.items():
    for _sql in _statements:
        event.listen(
            ledger,
            "after_create",
            DDL(_sql).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )
# -- live updates: what readers of a thread saw change, in order, for event streams to replay

EVENT_KINDS = ("comment", "edit", "delete", "vote", "thread")

events = Table(
    "events",
    metadata,
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    # 1, 2, 3 ... per thread without gaps (threads.event_seq), so a hole means "pruned"
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    # the event's JSON, exactly as streams send it
    Column("data", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("seq > 0", name="seq_positive"),
    CheckConstraint("kind IN ('comment', 'edit', 'delete', 'vote', 'thread')", name="kind_known"),
)
Index("ix_events_created", events.c.created_at)
# -- moderation: accounts, bans, reports, edit history, the audit log
# (columns of comments and threads that moderation adds are appended here, to keep merges easy)

MODERATION_MODES = ("none", "first-time", "everyone")
for _column in (
    # why a comment was held or marked spam: JSON [{"code", "note"}] of the checks' findings
    Column("held_for", Text, nullable=True),
    # the offensive-language model's probability, 0..1, shown to moderators
    Column("offensive", Float, nullable=True),
    # of the body normalised (case, spaces, punctuation): finds repeats of a recent comment
    Column("body_hash", String(64), nullable=True),
    # a pinned (sticky) top-level comment is shown first in its thread
    Column("pinned_at", UTCDateTime, nullable=True),
    Column("featured", Boolean, nullable=False, server_default=text("false")),
):
    comments.append_column(_column)
# queues across all threads, newest first
Index("ix_comments_status_recent", comments.c.status, comments.c.created_at, comments.c.id)
# a reader's comments: trust, their own pending comments, their history
Index("ix_comments_voter", comments.c.voter_id, comments.c.status)
Index("ix_comments_body_hash", comments.c.body_hash, comments.c.created_at)
# the few pinned comments of a thread, read with its first page
_pinned = text("pinned_at IS NOT NULL")
Index("ix_comments_pinned", comments.c.thread_id, sqlite_where=_pinned, postgresql_where=_pinned)

# a thread's own pre-moderation mode (NULL: the site's setting). The new columns of existing
# tables are checked in code: a CHECK added to a SQLite table means rebuilding the table.
threads.append_column(Column("moderation", String(16), nullable=True))
# what the thread changes of the site's other moderation settings (links, block lists, the
# offensive threshold, reports to hold, the fill time): JSON checked by
# kibitz.services.thread_policy.ThreadPolicy; NULL: nothing
threads.append_column(Column("policy", Text, nullable=True))

ROLES = ("admin", "moderator")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    # admins also manage accounts; moderators moderate
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),
    # base32 TOTP secret once the second factor is set up, and the last time step used
    Column("totp_secret", String(64), nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
    CheckConstraint("role IN ('admin', 'moderator')", name="role_known"),
    CheckConstraint("length(name) > 0", name="name_not_empty"),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    # the cookie holds the token; the database only its hash
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)
Index("ix_admin_sessions_account", admin_sessions.c.account_id)

invites = Table(
    "invites",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", Id, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    CheckConstraint("role IN ('admin', 'moderator')", name="role_known"),
)

BAN_KINDS = ("email", "voter", "ip")

bans = Table(
    "bans",
    metadata,
    Column("id", Id, primary_key=True),
    Column("kind", String(8), nullable=False),
    # never an address: a keyed hash of the e-mail address, the voter id, the keyed IP hash
    Column("value", String(64), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    # the banned reader is not told: their comments look posted to them, and to nobody else
    Column("shadow", Boolean, nullable=False, server_default=text("false")),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="SET NULL"), nullable=True),
    Column("created_by", Id, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("lifted_at", UTCDateTime, nullable=True),
    CheckConstraint("kind IN ('email', 'voter', 'ip')", name="kind_known"),
)
Index("ix_bans_value", bans.c.kind, bans.c.value)

REPORT_REASONS = ("spam", "abuse", "off_topic", "other")

reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("note", String(500), nullable=False, server_default=""),
    Column("voter_id", String(64), nullable=False),
    Column("ip_hash", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # a moderator looked at the comment since (approved it again, or removed it)
    Column("resolved_at", UTCDateTime, nullable=True),
    UniqueConstraint("comment_id", "voter_id", name="uq_reports_comment_voter"),
    CheckConstraint("reason IN ('spam', 'abuse', 'off_topic', 'other')", name="reason_known"),
)
Index("ix_reports_open", reports.c.resolved_at, reports.c.comment_id)
Index("ix_reports_voter", reports.c.voter_id)

# every earlier version of an edited comment
comment_edits = Table(
    "comment_edits",
    metadata,
    Column("id", Id, primary_key=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    # who edited: a moderator, or NULL for the comment's author
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("body_md", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_comment_edits_comment", comment_edits.c.comment_id, comment_edits.c.id)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    # who, as shown then: an account's name, "mail link", "reports", "reader"
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    # "comment:12", "thread:/2021/06/x", "ban:3", "account:2"
    Column("target", String(600), nullable=False),
    # JSON of what changed, before and after
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
)
Index("ix_audit_log_at", audit_log.c.at, audit_log.c.id)
Index("ix_audit_log_target", audit_log.c.target)


@event.listens_for(comments, "after_create")
def _create_search(_target: Any, conn: Connection, **_kw: Any) -> None:
    from kibitz.db import search  # full-text search objects live beside the tables

    search.create(conn)


@event.listens_for(comments, "before_drop")
def _drop_search(_target: Any, conn: Connection, **_kw: Any) -> None:
    from kibitz.db import search

    search.drop(conn)


# -- porting: where imported rows came from, so that importing the same file again changes
# nothing, and what kibitz could not represent of them (yet)

IMPORT_KINDS = ("thread", "comment")

import_records = Table(
    "import_records",
    metadata,
    Column("id", Id, primary_key=True),
    # the format ("disqus", "wordpress", ...) or the label given at import time
    Column("source", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    # JSON of the source's metadata that has no column here (sticky, inline-feedback form ...)
    Column("meta", Text, nullable=True),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "kind", "source_id", name="uq_import_records_source_kind_id"),
    CheckConstraint("kind IN ('thread', 'comment')", name="kind_known"),
    CheckConstraint("(kind = 'comment') = (comment_id IS NOT NULL)", name="comment_for_comment"),
)
Index("ix_import_records_thread", import_records.c.thread_id)
Index("ix_import_records_comment", import_records.c.comment_id)
# -- inline feedback: passages of an article that comments are anchored to

PASSAGE_KINDS = ("question", "selection")

# A passage: a publisher's question on it, or a reader's selection (readers who select the same
# passage share one row). Its anchor is the W3C selector pair over the article's normalised
# text (kibitz/anchoring.py), with the hash of the text it was made on.
passages = Table(
    "passages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    # "md:<key>" for a question marked in the article's Markdown, "q:<n>" for one asked
    # through the API, "s:<digest of the selector>" for a reader's selection
    Column("key", String(120), nullable=False),
    Column("question", String(300), nullable=True),
    # a question taken out of the article stays for its answers but takes no new ones
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("exact", Text, nullable=False),
    Column("prefix", String(64), nullable=False, server_default=""),
    Column("suffix", String(64), nullable=False, server_default=""),
    Column("pos_start", Integer, nullable=False),
    Column("pos_end", Integer, nullable=False),
    Column("text_hash", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("thread_id", "key", name="uq_passages_thread_key"),
    CheckConstraint("kind IN ('question', 'selection')", name="kind_known"),
    CheckConstraint("(kind = 'question') = (question IS NOT NULL)", name="question_for_kind"),
    CheckConstraint("length(exact) > 0", name="exact_not_empty"),
    CheckConstraint("pos_start >= 0 AND pos_end > pos_start", name="range_valid"),
)
Index("ix_comments_passage", comments.c.passage_id)
# -- the dashboard's additions: comments closed to replies, imports run from the dashboard

# a top-level comment closed to new replies (its whole sub-thread), as wpDiscuz closes one;
# checked in code (a CHECK on the comments table means rebuilding it on SQLite)
comments.append_column(Column("replies_closed_at", UTCDateTime, nullable=True))

IMPORT_JOB_STATES = ("running", "done", "failed")

# An import started from the dashboard's upload form: its options, its progress (written by
# the process that runs it, so that any process can answer the page that polls it) and its
# report. A running job whose heartbeat stops was interrupted (the server restarted).
import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True),
    Column("actor", String(100), nullable=False),
    Column("format", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    # ImportOptions as JSON (mapping, pingbacks, key), to run the same file again for real
    Column("options", Text, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("file_size", BigInteger, nullable=False),
    # where the uploaded file waits on this machine (kept after a dry run for the real one)
    Column("file_path", String(1000), nullable=True),
    Column("state", String(16), nullable=False),
    # progress: "read" counts bytes of the file, "write" counts threads
    Column("stage", String(16), nullable=True),
    Column("done", BigInteger, nullable=False, server_default=text("0")),
    Column("total", BigInteger, nullable=True),
    Column("report", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    CheckConstraint("state IN ('running', 'done', 'failed')", name="state_known"),
    CheckConstraint("done >= 0 AND file_size >= 0", name="counts_positive"),
)
Index("ix_import_jobs_state", import_jobs.c.state, import_jobs.c.id)

# -- mail that is never lost

# one more at every change of a comment's status: a moderator's mailed link names the hold
# it was made for (single use, even if the comment is held again), and each webhook of a
# status change has its own idempotency key
comments.append_column(Column("status_version", Integer, nullable=False, server_default=text("0")))
# an admin queued a failed row again: it is given up counting from here, not from created_at
outbox.append_column(Column("retried_at", UTCDateTime, nullable=True))
