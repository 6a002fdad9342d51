"""The schema: every table kibitz stores, with the invariants the database enforces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
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
