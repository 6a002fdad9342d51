"""Subscriptions: who gets mail about which thread, confirmed twice, removable in one click.

Nothing changes on a GET: links in mail lead to pages whose buttons POST, so mail scanners
that follow links cannot confirm or cancel anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz.context import Kibitz
from kibitz.db.tables import comments, digest_items, subscribers, subscriptions, threads
from kibitz.mail import messages, outbox
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email, email_key
from kibitz.services.errors import Forbidden, Invalid, NotFound

CONFIRM_MAX_AGE = 7 * 24 * 3600
RESEND_CONFIRMATION_AFTER = timedelta(minutes=10)
KINDS = ("thread", "replies", "comment")
NEED_EMAIL = "An e-mail address is needed for notifications."


def _insert_ignore(conn: Connection, table: sa.Table, **values: Any) -> None:
    insert: Any = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    conn.execute(insert.values(**values).on_conflict_do_nothing())


def _subscriber(conn: Connection, email: str, now: datetime) -> Any:
    _insert_ignore(conn, subscribers, email=email, email_key=email_key(email), created_at=now)
    query = sa.select(subscribers).where(subscribers.c.email_key == email_key(email))
    return conn.execute(query).one()


def add(
    conn: Connection,
    kb: Kibitz,
    email: str,
    kind: str,
    thread_id: int,
    comment_id: int | None = None,
    *,
    now: datetime,
) -> Any:
    """Record the subscription in the caller's transaction; ask to confirm a new address."""
    if kind not in KINDS:
        raise Invalid("invalid_kind", "Notify of: thread, replies or comment.", "kind")
    sub = _subscriber(conn, email, now)
    target = f"{kind}:{thread_id}:{comment_id or ''}"
    _insert_ignore(
        conn, subscriptions, subscriber_id=sub.id, kind=kind, thread_id=thread_id,
        comment_id=comment_id, created_at=now, target=target,
    )  # fmt: skip
    if sub.confirmed_at is None:
        last = sub.confirmation_sent_at
        if last is None or now - last >= RESEND_CONFIRMATION_AFTER:
            conn.execute(
                sa.update(subscribers)
                .where(subscribers.c.id == sub.id)
                .values(confirmation_sent_at=now)
            )
            token = confirm_token(kb, sub.id)
            outbox.enqueue(
                conn, "mail", f"confirm:{sub.id}:{int(now.timestamp())}",
                messages.confirmation(kb, sub.email, token), at=now,
            )  # fmt: skip
    return sub


async def subscribe(
    kb: Kibitz,
    email: str,
    thread_key: str,
    kind: str = "thread",
    *,
    page_url: str = "",
    title: str = "",
) -> bool:
    """Subscribe without commenting. True when the address is confirmed already.

    A page without comments yet (``page_url`` given) gets its thread opened when a first
    comment could open it.
    """
    email = check_email(email, "email", required_message=NEED_EMAIL) or ""
    key = thread_service.check_key(thread_key)
    if kind not in ("thread", "replies"):
        raise Invalid("invalid_kind", "Notify of: thread or replies.", "kind")
    page_url = thread_service.check_url(page_url, "thread_url")
    title = thread_service.check_title(title)
    now = thread_service.now()

    def tx(conn: Connection) -> bool:
        thread = thread_service.get_row(conn, key)
        if thread is None:
            opened_url = page_url and thread_service.may_open(kb.settings, key, page_url)
            if not opened_url:
                raise NotFound("thread_not_found", "There is no discussion here yet.", "thread")
            thread = thread_service.insert_if_absent(conn, key=key, title=title, url=opened_url)
        sub = add(conn, kb, email, kind, thread.id, now=now)
        return sub.confirmed_at is not None

    return await kb.db.write(tx)


# -- tokens in links: signed, so nothing needs storing; the confirmation one expires


def confirm_token(kb: Kibitz, subscriber_id: int) -> str:
    return kb.signer.sign("confirm", f"{subscriber_id}:{int(time.time())}")


def manage_token(kb: Kibitz, subscriber_id: int) -> str:
    return kb.signer.sign("manage", str(subscriber_id))


def unsubscribe_token(kb: Kibitz, subscriber_id: int, subscription_id: int | None) -> str:
    return kb.signer.sign("unsubscribe", f"{subscriber_id}:{subscription_id or 'all'}")


def _bad_link() -> Forbidden:
    return Forbidden("invalid_link", "This link is not valid (or has expired).")


def _confirm_target(kb: Kibitz, token: str) -> int:
    value = kb.signer.unsign("confirm", token)
    if value is None:
        raise _bad_link()
    sid, _, issued = value.partition(":")
    if not issued.isdigit() or time.time() - int(issued) > CONFIRM_MAX_AGE:
        raise _bad_link()
    return int(sid)


def check_confirm_token(kb: Kibitz, token: str) -> None:
    _confirm_target(kb, token)


async def confirm(kb: Kibitz, token: str) -> str:
    """Confirm the address; returns it."""
    sid = _confirm_target(kb, token)
    now = thread_service.now()

    def tx(conn: Connection) -> str:
        conn.execute(
            sa.update(subscribers)
            .where(subscribers.c.id == sid, subscribers.c.confirmed_at.is_(None))
            .values(confirmed_at=now)
        )
        email = conn.execute(sa.select(subscribers.c.email).where(subscribers.c.id == sid))
        found: str | None = email.scalar_one_or_none()
        if found is None:
            raise _bad_link()
        return found

    return await kb.db.write(tx)


def _unsubscribe_target(kb: Kibitz, token: str) -> tuple[int, int | None]:
    value = kb.signer.unsign("unsubscribe", token)
    if value is None:
        raise _bad_link()
    sid, _, which = value.partition(":")
    return int(sid), (None if which == "all" else int(which))


def check_unsubscribe_token(kb: Kibitz, token: str) -> None:
    _unsubscribe_target(kb, token)


async def unsubscribe(kb: Kibitz, token: str) -> int:
    """Remove the subscription the link names (or all of the address's). Returns how many."""
    sid, which = _unsubscribe_target(kb, token)

    def tx(conn: Connection) -> int:
        query = sa.delete(subscriptions).where(subscriptions.c.subscriber_id == sid)
        if which is not None:
            query = query.where(subscriptions.c.id == which)
        removed = conn.execute(query).rowcount
        # all gone: so is the digest. One gone: the next digest leaves out only what no other
        # subscription asks for (``still_wanted``), so its items stay
        if which is None:
            conn.execute(sa.delete(digest_items).where(digest_items.c.subscriber_id == sid))
        return removed

    return await kb.db.write(tx)


@dataclass(frozen=True)
class Preferences:
    email: str
    confirmed: bool
    digest: bool
    subscriptions: list[tuple[int, str, str, str]]  # id, kind, thread title, page url


def _manage_target(kb: Kibitz, token: str) -> int:
    value = kb.signer.unsign("manage", token)
    if value is None or not value.isdigit():
        raise _bad_link()
    return int(value)


async def preferences(kb: Kibitz, token: str) -> Preferences:
    sid = _manage_target(kb, token)

    def read(conn: Connection) -> Preferences:
        sub = conn.execute(sa.select(subscribers).where(subscribers.c.id == sid)).first()
        if sub is None:
            raise _bad_link()
        rows = conn.execute(
            sa.select(subscriptions.c.id, subscriptions.c.kind, threads.c.title, threads.c.key,
                      threads.c.url)
            .join(threads, threads.c.id == subscriptions.c.thread_id)
            .where(subscriptions.c.subscriber_id == sid)
            .order_by(subscriptions.c.id)
        )  # fmt: skip
        items = [(r.id, r.kind, r.title or r.key, r.url) for r in rows]
        return Preferences(sub.email, sub.confirmed_at is not None, bool(sub.digest), items)

    return await kb.db.read(read)


async def update_preferences(
    kb: Kibitz, token: str, *, digest: bool | None = None, remove: int | None = None
) -> None:
    sid = _manage_target(kb, token)

    def tx(conn: Connection) -> None:
        if digest is not None:
            conn.execute(
                sa.update(subscribers).where(subscribers.c.id == sid).values(digest=digest)
            )
        if remove is not None:
            conn.execute(
                sa.delete(subscriptions).where(
                    subscriptions.c.subscriber_id == sid, subscriptions.c.id == remove
                )
            )

    await kb.db.write(tx)


# -- who hears about a new comment


def _asking_for(conn: Connection, comment: Any) -> sa.ColumnElement[bool]:
    """The subscriptions (joined with their subscribers) that ask to hear of ``comment``."""
    parent = None
    if comment.parent_id is not None:
        parent = conn.execute(
            sa.select(comments.c.id, comments.c.author_email).where(
                comments.c.id == comment.parent_id
            )
        ).first()
    wanted = [
        sa.and_(subscriptions.c.kind == "thread", subscriptions.c.thread_id == comment.thread_id)
    ]
    if parent is not None:
        wanted.append(
            sa.and_(subscriptions.c.kind == "comment", subscriptions.c.comment_id == parent.id)
        )
        if parent.author_email:
            wanted.append(
                sa.and_(
                    subscriptions.c.kind == "replies",
                    subscriptions.c.thread_id == comment.thread_id,
                    subscribers.c.email_key == email_key(parent.author_email),
                )
            )
    return sa.and_(subscribers.c.confirmed_at.is_not(None), sa.or_(*wanted))


def anyone_listening(conn: Connection, thread_id: int, parent_id: int | None) -> bool:
    """Whether any subscription could ask to hear of a new comment in this thread with this
    parent (confirmed or not, and whoever wrote the parent: ``recipients`` decides); when
    none can, there is nothing to fan out."""
    params = {"t": thread_id, "p": parent_id, "reply": parent_id is not None}
    return conn.execute(_LISTENING, params).first() is not None


# built once: every new comment asks it
_LISTENING = sa.select(sa.literal(1)).where(
    sa.or_(
        sa.exists().where(
            subscriptions.c.thread_id == sa.bindparam("t"),
            sa.or_(
                subscriptions.c.kind == "thread",
                sa.and_(subscriptions.c.kind == "replies", sa.bindparam("reply")),
            ),
        ),
        sa.exists().where(subscriptions.c.comment_id == sa.bindparam("p")),
    )
)


def recipients(conn: Connection, comment: Any) -> list[Any]:
    """Confirmed subscribers to tell about ``comment`` (with the subscription that asks for
    it): each at most once, never the comment's own author."""
    rows = conn.execute(
        sa.select(subscribers, subscriptions.c.id.label("subscription_id"),
                  subscriptions.c.kind)
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(_asking_for(conn, comment))
        .order_by(subscribers.c.id)
    ).all()  # fmt: skip
    author = email_key(comment.author_email) if comment.author_email else None
    rank = {"comment": 0, "replies": 1, "thread": 2}
    best: dict[int, Any] = {}
    for row in rows:
        if row.email_key == author:
            continue
        if row.id not in best or rank[row.kind] < rank[best[row.id].kind]:
            best[row.id] = row
    return list(best.values())


def still_wanted(conn: Connection, subscriber_id: int, comment: Any) -> bool:
    """Whether a subscription of this subscriber still asks for ``comment``: what a digest
    checks for each comment it collected, since subscriptions can be removed meanwhile."""
    query = (
        sa.select(subscriptions.c.id)
        .join(subscribers, subscribers.c.id == subscriptions.c.subscriber_id)
        .where(subscribers.c.id == subscriber_id, _asking_for(conn, comment))
        .limit(1)
    )
    return conn.execute(query).first() is not None
