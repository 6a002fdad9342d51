"""Comments: posting, replying, editing and deleting one's own comment within a window."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz import markdown
from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads
from kibitz.mail import outbox, webhooks
from kibitz.models import (
    Author,
    Comment,
    CommentEdit,
    NewComment,
    PostedComment,
    Reader,
    Votes,
)
from kibitz.security import hash_token, new_token
from kibitz.services import moderator_alerts, passages, subscriptions
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email
from kibitz.services.errors import Conflict, Forbidden, Invalid, NotFound
from kibitz.settings import Settings

MAX_NAME = 100
MAX_URL = 2048
SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

# what the read path selects: never an e-mail address, an address hash or a token
PUBLIC_COLUMNS = [
    comments.c[name]
    for name in (
        "id", "parent_id", "root_id", "depth", "status", "author_name", "author_url",
        "body_html", "created_at", "edited_at", "up", "down", "score", "wilson", "reply_count",
        "passage_id",
    )
]  # fmt: skip

# a comment a reader can see: approved, or a deleted placeholder that still has replies
VISIBLE = sa.or_(
    comments.c.status == "approved",
    sa.and_(comments.c.status == "deleted", comments.c.reply_count > 0),
)


def _clean_line(value: str) -> str:
    """One line of plain text: no control or format characters, spaces collapsed."""
    kept = (ch for ch in value if unicodedata.category(ch)[0] != "C")
    return " ".join("".join(kept).split())


def check_body(settings: Settings, body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\x00", "").strip()
    if not body:
        raise Invalid("required", "Write something before posting.", "body")
    if len(body) > settings.max_body_chars:
        raise Invalid(
            "too_long",
            f"A comment has at most {settings.max_body_chars:,} characters "
            f"(this one has {len(body):,}).",
            "body",
        )
    return body


def check_author(
    settings: Settings, name: str | None, email: str | None, url: str | None
) -> tuple[str, str | None, str | None]:
    name = _clean_line(name or "")
    if not name:
        if settings.require_name:
            raise Invalid("required", "Please give your name.", "author_name")
        name = settings.guest_name
    if len(name) > MAX_NAME:
        raise Invalid("too_long", f"A name has at most {MAX_NAME} characters.", "author_name")
    email = check_email(
        email,
        "author_email",
        required_message="Please give your e-mail address." if settings.require_email else None,
    )
    url = (url or "").strip() or None
    if url is not None:
        if not settings.allow_website:
            raise Invalid("not_allowed", "This site does not take websites.", "author_url")
        if not SCHEME_RE.match(url):
            url = "https://" + url
        try:
            url = thread_service.check_url(url, "author_url") or None
        except Invalid:
            raise Invalid(
                "invalid_url", "A website is an http:// or https:// address.", "author_url"
            ) from None
    return name, email, url


def render(settings: Settings, body: str) -> str:
    return markdown.render(body, images=settings.markdown_images, new_tab=settings.links_new_tab)


def public(row: Any) -> Comment:
    deleted = row.status == "deleted"
    return Comment(
        id=row.id,
        parent_id=row.parent_id,
        author=Author(None, None) if deleted else Author(row.author_name, row.author_url),
        body_html="" if deleted else row.body_html,
        created_at=row.created_at,
        edited_at=row.edited_at,
        status=row.status if row.status in ("approved", "pending", "deleted") else "pending",
        votes=Votes(row.up, row.down, row.score),
        passage_id=row.passage_id,
    )


def _row(conn: Connection, comment_id: int) -> Any:
    return conn.execute(sa.select(comments).where(comments.c.id == comment_id)).first()


def _no_such_thread() -> NotFound:
    return NotFound(
        "thread_not_found",
        "There is no discussion for this page, and this page may not open one.",
        "thread",
    )


def _check_parent(conn: Connection, parent_id: int | None, thread_id: int) -> Any:
    if parent_id is None:
        return None
    parent = _row(conn, parent_id)
    if parent is None or parent.status in ("pending", "spam", "rejected"):
        raise Invalid("unknown_parent", "There is no such comment to reply to.", "parent_id")
    if parent.thread_id != thread_id:
        raise Invalid(
            "parent_in_other_thread", "That comment belongs to another discussion.", "parent_id"
        )
    if parent.status == "deleted":
        raise Conflict(
            "parent_deleted", "That comment was deleted; it takes no replies.", "parent_id"
        )
    return parent


async def create(
    kb: Kibitz, data: NewComment, who: Reader, *, at: datetime | None = None
) -> PostedComment:
    s = kb.settings
    key = thread_service.check_key(data.thread)
    body = check_body(s, data.body)
    name, email, url = check_author(s, data.author_name, data.author_email, data.author_url)
    title = thread_service.check_title(data.thread_title or "")
    page_url = thread_service.check_url(data.thread_url or "", "thread_url")
    if data.parent_id is not None and data.parent_id < 1:
        raise Invalid("unknown_parent", "There is no such comment to reply to.", "parent_id")
    anchor = passages.check_new(s, data)
    wants_mail = data.notify != "none" or data.notify_replies
    if wants_mail and email is None:
        raise Invalid("required", "Give your e-mail address to be notified.", "author_email")
    html = render(s, body)  # outside the write transaction: rendering is the slow part
    token = new_token()
    created = at or thread_service.now()
    status = "pending" if s.moderation == "all" else "approved"

    def tx(conn: Connection) -> Any:
        thread = thread_service.get_row(conn, key)
        if thread is None:
            opened_url = thread_service.may_open(s, key, page_url)
            if opened_url is None:
                raise _no_such_thread()
            thread = thread_service.insert_if_absent(conn, key=key, title=title, url=opened_url)
        if thread.closed:
            raise Forbidden("thread_closed", "This discussion is closed.", "thread")
        parent = _check_parent(conn, data.parent_id, thread.id)
        passage_id = passages.attach(conn, thread.id, key, data.passage_id, anchor)
        values = {
            "thread_id": thread.id,
            "parent_id": parent.id if parent is not None else None,
            "root_id": (parent.root_id or parent.id) if parent is not None else None,
            "depth": parent.depth + 1 if parent is not None else 0,
            "status": status,
            "author_name": name,
            "author_email": email,
            "author_url": url,
            "body_md": body,
            "body_html": html,
            "created_at": created,
            "edit_token_hash": hash_token(token),
            "voter_id": who.voter_id,
            "ip_hash": who.ip_hash,
            "passage_id": passage_id,
        }
        insert = sa.insert(comments).values(**values).returning(comments.c.id)
        comment_id = conn.execute(insert).scalar_one()
        if email is not None:
            if data.notify != "none":
                subscriptions.add(conn, kb, email, data.notify, thread.id, now=created)
            if data.notify_replies:
                subscriptions.add(conn, kb, email, "comment", thread.id, comment_id, now=created)
        if status == "approved":
            _became_visible(conn, parent.id if parent is not None else None)
            thread_service.bump(
                conn,
                thread.id,
                comment_count=threads.c.comment_count + 1,
                last_comment_at=created,
            )
            announce(conn, kb, comment_id, key, "comment.created", now=created)
        row = _row(conn, comment_id)
        moderator_alerts.tell_moderators(conn, kb, row, key)
        return row

    row = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    c = public(row)
    return PostedComment(
        **{f: getattr(c, f) for f in c.__struct_fields__},
        edit_token=token,
        edit_until=created + timedelta(seconds=s.edit_window_seconds),
    )


def announce(
    conn: Connection, kb: Kibitz, comment_id: int, thread_key: str, event: str, *, now: datetime
) -> None:
    """A comment became visible: queue its notifications and webhooks in this transaction."""
    outbox.enqueue(conn, "fanout", f"fanout:comment:{comment_id}", {"comment_id": comment_id},
                   at=now)  # fmt: skip
    webhooks.emit(conn, kb.settings, event, str(comment_id),
                  {"id": comment_id, "thread": thread_key}, now=now)  # fmt: skip


def _became_visible(conn: Connection, parent_id: int | None) -> None:
    if parent_id is not None:
        conn.execute(
            sa.update(comments)
            .where(comments.c.id == parent_id)
            .values(reply_count=comments.c.reply_count + 1)
        )


def _became_invisible(conn: Connection, parent_id: int | None) -> None:
    """A visible comment left the page: its parent has one reply fewer, and a deleted
    parent left without replies leaves the page too, up the chain."""
    while parent_id is not None:
        parent = conn.execute(
            sa.update(comments)
            .where(comments.c.id == parent_id)
            .values(reply_count=comments.c.reply_count - 1)
            .returning(comments.c.status, comments.c.reply_count, comments.c.parent_id)
        ).first()
        if parent is None or not (parent.status == "deleted" and parent.reply_count == 0):
            return
        parent_id = parent.parent_id


def _own(kb: Kibitz, conn: Connection, comment_id: int, token: str | None, at: datetime) -> Any:
    """The comment, if the token is its edit token and the window is still open."""
    row = _row(conn, comment_id)
    if row is None or row.status in ("spam", "rejected"):
        raise NotFound("comment_not_found", "There is no such comment.")
    if row.status == "deleted":
        raise NotFound("comment_not_found", "This comment was deleted.")
    if not token or row.edit_token_hash is None or hash_token(token) != row.edit_token_hash:
        raise Forbidden(
            "not_your_comment", "Only the author can change this comment (edit token missing)."
        )
    window = timedelta(seconds=kb.settings.edit_window_seconds)
    if at > row.created_at + window:
        minutes = kb.settings.edit_window_seconds // 60
        raise Forbidden(
            "edit_window_closed",
            f"Comments can be changed for {minutes} minutes after posting; that time is over.",
        )
    return row


async def edit(
    kb: Kibitz, comment_id: int, token: str | None, data: CommentEdit, *, at: datetime | None = None
) -> Comment:
    body = check_body(kb.settings, data.body)
    html = render(kb.settings, body)
    when = at or thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = _own(kb, conn, comment_id, token, when)
        conn.execute(
            sa.update(comments)
            .where(comments.c.id == comment_id)
            .values(body_md=body, body_html=html, edited_at=when)
        )
        if row.status == "approved":
            thread_service.bump(conn, row.thread_id)
        return _row(conn, comment_id), thread_service.key_of(conn, row.thread_id)

    row, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    return public(row)


async def delete(
    kb: Kibitz, comment_id: int, token: str | None, *, at: datetime | None = None
) -> Comment | None:
    """Delete one's own comment. With replies it stays as a "[deleted]" placeholder (returned);
    without, it leaves the page (None)."""
    when = at or thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = _own(kb, conn, comment_id, token, when)
        conn.execute(
            sa.update(comments)
            .where(comments.c.id == comment_id)
            .values(
                status="deleted",
                deleted_at=when,
                body_md="",
                body_html="",
                author_name="",
                author_email=None,
                author_url=None,
            )
        )
        key = thread_service.key_of(conn, row.thread_id)
        if row.status == "approved":
            if row.reply_count == 0:
                _became_invisible(conn, row.parent_id)
            thread_service.bump(conn, row.thread_id, comment_count=threads.c.comment_count - 1)
            webhooks.emit(conn, kb.settings, "comment.deleted", str(comment_id),
                          {"id": comment_id, "thread": key}, now=when)  # fmt: skip
        return _row(conn, comment_id), key

    after, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    return public(after) if after.reply_count > 0 else None
