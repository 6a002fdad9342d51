"""What the dashboard reads: the queues, one comment in full, a reader's history, threads.

Queues are cut with keyset cursors (newest first), searched with the engine's full-text
index (``kibitz.db.search``), across all threads or one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db import search
from kibitz.db.tables import accounts, bans, comment_edits, comments, passages, reports, threads
from kibitz.services import policies
from kibitz.services.addresses import email_key
from kibitz.services.errors import Invalid, NotFound

QUEUES = {
    "pending": "Pending",
    "reported": "Reported",
    "spam": "Spam",
    "approved": "Approved",
    "deleted": "Deleted",
    "all": "All",
}
PAGE = 50
c = comments.c


@dataclass
class Item:
    """A comment as a moderator sees it: everything but the IP (only a prefix of its hash)."""

    id: int
    thread_key: str
    thread_title: str
    thread_url: str
    parent_id: int | None
    status: str
    author_name: str
    author_email: str | None
    author_url: str | None
    body_md: str
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    offensive: int | None  # percent
    reasons: list[dict[str, str]]
    open_reports: int
    pinned: bool
    featured: bool
    replies_closed: bool
    # inline feedback: the passage the comment is about (its question, its words)
    passage_question: str | None
    passage_exact: str | None
    voter_id: str | None
    ip_hint: str | None
    up: int
    down: int
    reply_count: int

    @property
    def gone(self) -> bool:
        """Deleted by its author or erased: nothing is left to restore."""
        return self.status == "deleted" and not self.body_md


def _open_reports() -> Any:
    return (
        sa.select(sa.func.count())
        .where(reports.c.comment_id == c.id, reports.c.resolved_at.is_(None))
        .scalar_subquery()
        .label("open_reports")
    )


def _select() -> sa.Select[Any]:
    return sa.select(
        comments,
        threads.c.key.label("thread_key"),
        threads.c.title.label("thread_title"),
        threads.c.url.label("thread_url"),
        passages.c.question.label("passage_question"),
        passages.c.exact.label("passage_exact"),
        _open_reports(),
    ).select_from(
        comments.join(threads, threads.c.id == c.thread_id).outerjoin(
            passages, passages.c.id == c.passage_id
        )
    )


def _item(row: Any) -> Item:
    offensive = None if row.offensive is None else round(row.offensive * 100)
    return Item(
        id=row.id,
        thread_key=row.thread_key,
        thread_title=row.thread_title,
        thread_url=row.thread_url,
        parent_id=row.parent_id,
        status=row.status,
        author_name=row.author_name,
        author_email=row.author_email,
        author_url=row.author_url,
        body_md=row.body_md,
        body_html=row.body_html,
        created_at=row.created_at,
        edited_at=row.edited_at,
        offensive=offensive,
        reasons=policies.reasons(row.held_for),
        open_reports=row.open_reports,
        pinned=row.pinned_at is not None,
        featured=bool(row.featured),
        replies_closed=row.replies_closed_at is not None,
        passage_question=row.passage_question,
        passage_exact=row.passage_exact,
        voter_id=row.voter_id,
        ip_hint=row.ip_hash[:8] if row.ip_hash else None,
        up=row.up,
        down=row.down,
        reply_count=row.reply_count,
    )


def _in_queue(queue: str) -> Any:
    if queue == "pending":
        return c.status == "pending"
    if queue == "spam":
        return c.status == "spam"
    if queue == "approved":
        return c.status == "approved"
    if queue == "deleted":
        return c.status.in_(("deleted", "rejected"))
    if queue == "reported":
        return c.id.in_(sa.select(reports.c.comment_id).where(reports.c.resolved_at.is_(None)))
    return sa.true()


def check_queue(queue: str) -> str:
    if queue not in QUEUES:
        raise Invalid("invalid_queue", f"Queues are {', '.join(QUEUES)}.", "queue")
    return queue


def _encode(row: Any) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(at)
        return when, int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Invalid("invalid_cursor", "That page cursor is not valid.", "cursor") from None


def _search(conn: Connection, q: str) -> Any:
    """Text search, or an exact e-mail address match when the query is one."""
    q = q.strip()
    if "@" in q and " " not in q:
        return sa.func.lower(c.author_email) == email_key(q)
    return search.matches(conn, q)


@dataclass
class QueuePage:
    items: list[Item]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


async def page(
    kb: Kibitz,
    queue: str = "pending",
    *,
    thread: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE,
) -> QueuePage:
    queue = check_queue(queue)
    after = _decode(cursor) if cursor else None

    def read(conn: Connection) -> QueuePage:
        query = _select().where(_in_queue(queue))
        if thread:
            query = query.where(threads.c.key == thread)
        if q and q.strip():
            found = _search(conn, q)
            if found is None:
                return QueuePage([], None, _counts(conn, thread))
            query = query.where(found)
        if after is not None:
            at = sa.literal(after[0], comments.c.created_at.type)
            query = query.where(sa.tuple_(c.created_at, c.id) < sa.tuple_(at, after[1]))
        rows = list(conn.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)))
        next_cursor = _encode(rows[limit - 1]) if len(rows) > limit else None
        return QueuePage([_item(r) for r in rows[:limit]], next_cursor, _counts(conn, thread))

    return await kb.db.read(read)


def _counts(conn: Connection, thread: str | None) -> dict[str, int]:
    """How many comments wait in the queues that need a moderator."""
    out = {}
    for name in ("pending", "reported", "spam"):
        query = sa.select(sa.func.count()).select_from(comments).where(_in_queue(name))
        if thread:
            query = query.join(threads, threads.c.id == c.thread_id).where(threads.c.key == thread)
        out[name] = int(conn.execute(query).scalar_one())
    return out


@dataclass
class Detail:
    item: Item
    parent: Item | None
    edits: list[Any]
    reports: list[Any]


async def detail(kb: Kibitz, comment_id: int) -> Detail:
    def read(conn: Connection) -> Detail:
        row = conn.execute(_select().where(c.id == comment_id)).first()
        if row is None:
            raise NotFound("comment_not_found", "There is no such comment.")
        parent = None
        if row.parent_id is not None:
            parent = conn.execute(_select().where(c.id == row.parent_id)).first()
        edits = list(
            conn.execute(
                sa.select(comment_edits, accounts.c.name.label("editor"))
                .outerjoin(accounts, accounts.c.id == comment_edits.c.account_id)
                .where(comment_edits.c.comment_id == comment_id)
                .order_by(comment_edits.c.id.desc())
            )
        )
        found = list(
            conn.execute(
                sa.select(reports)
                .where(reports.c.comment_id == comment_id)
                .order_by(reports.c.id.desc())
            )
        )
        return Detail(_item(row), _item(parent) if parent is not None else None, edits, found)

    return await kb.db.read(read)


@dataclass
class History:
    """A reader at a glance: every comment from their e-mail address or their voter cookie."""

    email: str | None
    voter: str | None
    items: list[Item]
    by_status: dict[str, int]
    emails: list[str]
    voters: list[str]
    bans: list[Any]


async def history(
    kb: Kibitz, *, email: str | None = None, voter: str | None = None, limit: int = 200
) -> History:
    if not email and not voter:
        raise Invalid("required", "Give an e-mail address or a voter id.", "email")
    key = email_key(email) if email else None

    def read(conn: Connection) -> History:
        # one step out: the cookies an address used, and the addresses a cookie gave
        start = []
        if key:
            start.append(sa.func.lower(c.author_email) == key)
        if voter:
            start.append(c.voter_id == voter)
        seed = list(conn.execute(sa.select(c.voter_id, c.author_email).where(sa.or_(*start))))
        voters = sorted({r.voter_id for r in seed if r.voter_id})
        emails = sorted({email_key(r.author_email) for r in seed if r.author_email})
        wanted = list(start)
        if voters:
            wanted.append(c.voter_id.in_(voters))
        if emails:
            wanted.append(sa.func.lower(c.author_email).in_(emails))
        rows = list(
            conn.execute(
                _select()
                .where(sa.or_(*wanted))
                .order_by(c.created_at.desc(), c.id.desc())
                .limit(limit)
            )
        )
        by_status: dict[str, int] = {}
        counted = conn.execute(
            sa.select(c.status, sa.func.count()).where(sa.or_(*wanted)).group_by(c.status)
        )
        for status, n in counted.all():
            by_status[status] = n
        ban_rows = []
        if voters:
            live = sa.select(bans).where(
                bans.c.kind == "voter", bans.c.value.in_(voters), bans.c.lifted_at.is_(None)
            )
            ban_rows = list(conn.execute(live))
        return History(email, voter, [_item(r) for r in rows], by_status, emails, voters, ban_rows)

    return await kb.db.read(read)


@dataclass
class ThreadRow:
    key: str
    title: str
    url: str
    closed: bool
    moderation: str | None
    comment_count: int
    pending: int
    last_comment_at: datetime | None
    # the thread changes some of the site's other moderation settings (thread_policy)
    policy: bool = False


async def thread_list(kb: Kibitz, q: str | None = None, limit: int = 100) -> list[ThreadRow]:
    pending = (
        sa.select(sa.func.count())
        .where(c.thread_id == threads.c.id, c.status == "pending")
        .scalar_subquery()
    )
    query = sa.select(threads, pending.label("pending")).order_by(
        threads.c.last_comment_at.desc().nulls_last(), threads.c.id.desc()
    )
    if q and q.strip():
        like = f"%{q.strip().lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(threads.c.key).like(like), sa.func.lower(threads.c.title).like(like)
            )
        )
    rows = await kb.db.read(lambda conn: list(conn.execute(query.limit(limit))))
    return [
        ThreadRow(
            r.key,
            r.title,
            r.url,
            bool(r.closed),
            r.moderation,
            r.comment_count,
            r.pending,
            r.last_comment_at,
            r.policy is not None,
        )
        for r in rows
    ]
