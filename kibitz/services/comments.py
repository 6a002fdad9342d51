"""Comments: posting, replying, editing and deleting one's own comment within a window."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz import anchoring, markdown, plugins
from kibitz.context import Kibitz
from kibitz.db.tables import UTCDateTime, comment_edits, comments, threads
from kibitz.live import events as live
from kibitz.mail import outbox, webhooks
from kibitz.models import (
    Author,
    Comment,
    CommentEdit,
    NewComment,
    PostedComment,
    PublicStatus,
    Reader,
    Votes,
)
from kibitz.plugins import Candidate, Finding
from kibitz.security import hash_token, new_token
from kibitz.services import (
    bans,
    moderator_alerts,
    passages,
    policies,
    subscriptions,
    thread_policy,
)
from kibitz.services import offensive as offensive_model
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
        "pinned_at", "featured", "passage_id", "replies_closed_at",
    )
]  # fmt: skip

# a comment on the page: approved, or a placeholder (deleted, or removed by moderation) that
# still has replies on the page
VISIBLE = sa.or_(comments.c.status == "approved", comments.c.reply_count > 0)


def on_page(status: str, reply_count: int) -> bool:
    return status == "approved" or reply_count > 0


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
    settings: Settings, name: str | None, email: str | None, url: str | None,
    *, guest_rules: bool = True,
) -> tuple[str, str | None, str | None]:  # fmt: skip
    """The author's name, e-mail and website, checked; ``guest_rules=False`` leaves out what
    the site asks of a guest's form (name and e-mail required, websites refused), for
    comments that no reader typed (the demo's, imported ones)."""
    name = _clean_line(name or "")
    if not name:
        if settings.require_name and guest_rules:
            raise Invalid("required", "Please give your name.", "author_name")
        name = settings.guest_name
    if len(name) > MAX_NAME:
        raise Invalid("too_long", f"A name has at most {MAX_NAME} characters.", "author_name")
    email = check_email(
        email,
        "author_email",
        required_message=(
            "Please give your e-mail address." if settings.require_email and guest_rules else None
        ),
    )
    url = (url or "").strip() or None
    if url is not None:
        if not settings.allow_website and guest_rules:
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
    return markdown.render(
        body, images=settings.markdown_images, new_tab=settings.links_new_tab,
        raw_html=settings.markdown_raw_html,
    )  # fmt: skip


def render_new(settings: Settings, body: str) -> str:
    """A new or edited comment's HTML; refused when nothing would show, as when the body
    is only raw HTML that rendering leaves out."""
    html = render(settings, body)
    if not anchoring.html_text(html).strip():
        raise Invalid(
            "nothing_to_show",
            "Nothing of this comment would show (HTML is left out): write some text.",
            "body",
        )
    return html


def public(row: Any, *, placeholder: bool = False) -> Comment:
    """The comment as its author may see it; with ``placeholder``, as a thread shows a
    comment that is not published but has replies: "[deleted]", without name or text."""
    hidden = placeholder or row.status == "deleted"
    status: PublicStatus = "pending"
    if placeholder or row.status == "deleted":
        status = "deleted"
    elif row.status == "approved":
        status = "approved"
    return Comment(
        id=row.id,
        parent_id=row.parent_id,
        author=Author(None, None) if hidden else Author(row.author_name, row.author_url),
        body_html="" if hidden else row.body_html,
        created_at=row.created_at,
        edited_at=row.edited_at,
        status=status,
        votes=Votes(row.up, row.down, row.score),
        pinned=row.pinned_at is not None and not hidden,
        featured=bool(row.featured) and not hidden,
        passage_id=row.passage_id,
        replies_closed=row.replies_closed_at is not None,
    )


def shown(row: Any) -> Comment:
    """As every reader of the thread sees it."""
    return public(row, placeholder=row.status != "approved")


# built once, with bound parameters: posting runs each of them (building a statement
# costs SQLAlchemy more than SQLite takes to run it)
_ROW = sa.select(comments).where(comments.c.id == sa.bindparam("c"))
_INSERT = sa.insert(comments).returning(*comments.c)


def get_row(conn: Connection, comment_id: int) -> Any:
    """The comment's row, whatever its status; None when there is none."""
    return conn.execute(_ROW, {"c": comment_id}).first()


def _no_such_thread() -> NotFound:
    return NotFound(
        "thread_not_found",
        "There is no discussion for this page, and this page may not open one.",
        "thread",
    )


def _check_parent(conn: Connection, parent_id: int | None, thread_id: int) -> Any:
    if parent_id is None:
        return None
    parent = get_row(conn, parent_id)
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
    root = parent if parent.root_id is None else get_row(conn, parent.root_id)
    if root is not None and root.replies_closed_at is not None:
        raise Forbidden(
            "replies_closed", "A moderator closed this conversation to new replies.", "parent_id"
        )
    return parent


async def _screen(
    settings: Settings, *, checks: bool, key: str, body: str, html: str, name: str,
    email: str | None, url: str | None, parent_id: int | None, who: Reader,
    honeypot: str | None, form: tuple[float | None, bool], edit: bool = False,
) -> tuple[float, list[Finding]]:  # fmt: skip
    """The body's offensive score and, with ``checks``, every check's findings: on the event
    loop when only kibitz's own checks run (they take well under a millisecond together),
    else in one hop to a worker thread (a plugin may wait on the network)."""
    age, genuine = form

    def work() -> tuple[float, list[Finding]]:
        offensive = offensive_model.score_now(body)
        if not checks:
            return offensive, []
        candidate = Candidate(
            thread=key, body=body, body_html=html, author_name=name, author_email=email,
            author_url=url, parent_id=parent_id, voter_id=who.voter_id, ip_hash=who.ip_hash,
            ip=who.ip, user_agent=who.user_agent, honeypot=honeypot, form_age=age,
            form_token_valid=genuine, offensive=offensive, edit=edit,
        )  # fmt: skip
        return offensive, plugins.check(settings, candidate)

    if plugins.builtin_only(settings):
        return work()
    return await asyncio.to_thread(work)


async def create(
    kb: Kibitz, data: NewComment, who: Reader, *, at: datetime | None = None,
    checks: bool = True,
) -> PostedComment:  # fmt: skip
    """Post a comment. ``checks=False`` skips moderation (the demo's and importers' own
    comments); readers' comments always go through it."""
    s = kb.settings
    # the time taken to fill the form ends when the comment arrives, not after the checks
    form = policies.form_age(kb, data.form_token)
    key = thread_service.check_key(data.thread)
    body = check_body(s, data.body)
    name, email, url = check_author(
        s, data.author_name, data.author_email, data.author_url, guest_rules=checks
    )
    title = thread_service.check_title(data.thread_title or "")
    page_url = thread_service.check_url(data.thread_url or "", "thread_url")
    if data.parent_id is not None and data.parent_id < 1:
        raise Invalid("unknown_parent", "There is no such comment to reply to.", "parent_id")
    anchor = passages.check_new(s, data)
    wants_mail = data.notify != "none" or data.notify_replies
    if wants_mail and email is None:
        raise Invalid("required", "Give your e-mail address to be notified.", "author_email")
    html = render_new(s, body)  # outside the write transaction: rendering is the slow part
    token = new_token()
    created = at or thread_service.now()
    digest = policies.body_hash(body)
    length = len(policies.normalise(body))
    settings, ban = s, None
    if checks:

        def look_up(conn: Connection) -> tuple[Settings, Any]:
            # the site's settings with the thread's own policy over them; the reader's ban
            return thread_policy.settings_for(conn, s, key), bans.active(
                conn, kb, email=email, voter_id=who.voter_id, ip_hash=who.ip_hash, now=created
            )

        settings, ban = await kb.db.peek(look_up)
    offensive, findings = await _screen(
        settings, checks=checks, key=key, body=body, html=html, name=name, email=email,
        url=url, parent_id=data.parent_id, who=who, honeypot=data.honeypot, form=form,
    )  # fmt: skip

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
        verdict = policies.Verdict("approved", [], "approved")
        if checks:
            verdict = policies.decide(
                conn, kb, thread=thread, who=who, email=email, findings=findings,
                digest=digest, length=length, now=created, ban=ban,
            )  # fmt: skip
        status = verdict.status
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
            "held_for": verdict.held_for,
            "offensive": offensive,
            "body_hash": digest,
            "passage_id": passage_id,
        }
        row = conn.execute(_INSERT, values).one()
        comment_id = row.id
        if email is not None and status != "spam":  # no mail to addresses a bot typed in
            if data.notify != "none":
                subscriptions.add(conn, kb, email, data.notify, thread.id, now=created)
            if data.notify_replies:
                subscriptions.add(conn, kb, email, "comment", thread.id, comment_id, now=created)
        if status == "approved":
            _became_visible(conn, parent.id if parent is not None else None)
            announce(conn, kb, row, key, "comment.created", now=created)
            appeared = live.shown(public(row), root_id=row.root_id, depth=row.depth)
            # the thread's count, version and latest comment time, with the event
            live.record(conn, thread.id, "comment", appeared, now=created, comment_added=True)
        moderator_alerts.tell_moderators(conn, kb, row, key)
        return row, verdict

    row, verdict = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    c = public(row)
    if verdict.shown_as == "approved":
        c.status = "approved"  # a shadow-banned reader sees their comment as published
    return PostedComment(
        **{f: getattr(c, f) for f in c.__struct_fields__},
        edit_token=token,
        edit_until=created + timedelta(seconds=s.edit_window_seconds),
    )


def announce(
    conn: Connection, kb: Kibitz, row: Any, thread_key: str, event: str, *,
    now: datetime, version: int = 0,
) -> None:  # fmt: skip
    """A comment (``row``) became visible: queue its notifications and webhooks in this
    transaction. Readers hear of a comment once (the fan-out is keyed by the comment), and
    only when a subscription could ask for it (most comments have no one to tell: no job
    for the worker); each publication is a webhook event of its own (keyed by the
    comment's status version)."""
    if subscriptions.anyone_listening(conn, row.thread_id, row.parent_id):
        outbox.enqueue(conn, "fanout", f"fanout:comment:{row.id}", {"comment_id": row.id},
                       at=now)  # fmt: skip
    webhooks.emit(conn, kb.settings, event, f"{row.id}:v{version}",
                  {"id": row.id, "thread": thread_key}, now=now)  # fmt: skip


_ONE_MORE_REPLY = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("c"))
    .values(reply_count=comments.c.reply_count + 1)
    .returning(comments.c.status, comments.c.reply_count, comments.c.parent_id)
)


def _became_visible(conn: Connection, parent_id: int | None) -> list[int]:
    """A comment appeared on the page: its parent has one more visible reply, and an
    unpublished parent that had none appears with it as a placeholder, up the chain.
    Returns the parents that appeared, nearest first."""
    appeared: list[int] = []
    while parent_id is not None:
        parent = conn.execute(_ONE_MORE_REPLY, {"c": parent_id}).first()
        if parent is None or parent.status == "approved" or parent.reply_count > 1:
            return appeared
        appeared.append(parent_id)
        parent_id = parent.parent_id
    return appeared


def _became_invisible(conn: Connection, parent_id: int | None) -> list[int]:
    """A visible comment left the page: its parent has one reply fewer, and an unpublished
    parent (a placeholder) left without replies leaves the page too, up the chain.
    Returns the parents that left."""
    gone: list[int] = []
    while parent_id is not None:
        parent = conn.execute(
            sa.update(comments)
            .where(comments.c.id == parent_id)
            .values(reply_count=comments.c.reply_count - 1)
            .returning(comments.c.status, comments.c.reply_count, comments.c.parent_id)
        ).first()
        if parent is None or not (parent.status != "approved" and parent.reply_count == 0):
            return gone
        gone.append(parent_id)
        parent_id = parent.parent_id
    return gone


def change_status(
    conn: Connection, kb: Kibitz, row: Any, status: str, *, key: str, now: datetime,
    **values: Any,
) -> None:  # fmt: skip
    """Move a comment to ``status`` in the caller's transaction, keeping the thread's count,
    the parents' reply counts and the thread's version right; a comment published for the
    first time has its notifications queued (once: the outbox keys them by comment), and
    open event streams are told what changed on the page."""
    before = on_page(row.status, row.reply_count)
    after = on_page(status, row.reply_count)
    version = conn.execute(
        sa.update(comments)
        .where(comments.c.id == row.id)
        .values(status=status, status_version=comments.c.status_version + 1, **values)
        .returning(comments.c.status_version)
    ).scalar_one()
    appeared: list[int] = []
    removed: list[int] = []
    if after and not before:
        appeared = _became_visible(conn, row.parent_id)
    elif before and not after:
        removed = [row.id, *_became_invisible(conn, row.parent_id)]
    delta = (status == "approved") - (row.status == "approved")
    changes: dict[str, Any] = {}
    if delta:
        changes["comment_count"] = threads.c.comment_count + delta
    if delta > 0:
        created = sa.literal(row.created_at, UTCDateTime())
        changes["last_comment_at"] = sa.case(
            (threads.c.last_comment_at.is_(None), created),
            (threads.c.last_comment_at < created, created),
            else_=threads.c.last_comment_at,
        )
    if before or after:
        thread_service.bump(conn, row.thread_id, **changes)
        _tell_streams(conn, row.id, before=before, after=after, appeared=appeared,
                      removed=removed, now=now)  # fmt: skip
    elif changes:
        conn.execute(sa.update(threads).where(threads.c.id == row.thread_id).values(**changes))
    if delta > 0:
        announce(conn, kb, row, key, "comment.approved", now=now, version=version)
    elif delta < 0:
        event = "comment.deleted" if status == "deleted" else "comment.hidden"
        webhooks.emit(conn, kb.settings, event, f"{row.id}:v{version}",
                      {"id": row.id, "thread": key}, now=now)  # fmt: skip


def _tell_streams(
    conn: Connection, comment_id: int, *, before: bool, after: bool, appeared: list[int],
    removed: list[int], now: datetime,
) -> None:  # fmt: skip
    """Record, for open event streams, how a status change looks on the page: a comment (and
    placeholders above it) appearing, a comment turning into a placeholder or back, or
    comments leaving the page."""
    row = get_row(conn, comment_id)
    if after and not before:
        for ancestor_id in reversed(appeared):  # outermost first, so each has its parent
            ancestor = get_row(conn, ancestor_id)
            placeholder = live.shown(shown(ancestor), root_id=ancestor.root_id,
                                     depth=ancestor.depth)  # fmt: skip
            live.record(conn, row.thread_id, "comment", placeholder, now=now)
        appearing = live.shown(shown(row), root_id=row.root_id, depth=row.depth)
        live.record(conn, row.thread_id, "comment", appearing, now=now)
    elif before and not after:
        live.record(conn, row.thread_id, "delete", live.deleted(row.id, None, removed), now=now)
    elif row.status == "approved":
        live.record(conn, row.thread_id, "edit", live.edited(shown(row)), now=now)
    else:
        gone = live.deleted(row.id, shown(row), [])
        live.record(conn, row.thread_id, "delete", gone, now=now)


def tell_streams_edited(conn: Connection, comment_id: int, *, now: datetime) -> None:
    """A comment on the page changed in place (its text, pin or feature): tell streams."""
    row = get_row(conn, comment_id)
    if row.status == "approved":
        live.record(conn, row.thread_id, "edit", live.edited(shown(row)), now=now)


def _own(kb: Kibitz, conn: Connection, comment_id: int, token: str | None, at: datetime) -> Any:
    """The comment, if the token is its edit token and the window is still open."""
    row = get_row(conn, comment_id)
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
    kb: Kibitz, comment_id: int, token: str | None, data: CommentEdit, *,
    at: datetime | None = None, who: Reader | None = None,
) -> Comment:  # fmt: skip
    """The author's edit, within the window. The text before is kept in the edit history,
    and the new text goes through the content checks again: an edit that adds what a new
    comment would be held for takes a published comment back to the queue."""
    body = check_body(kb.settings, data.body)
    html = render_new(kb.settings, body)
    when = at or thread_service.now()
    who = who or Reader()

    def read(conn: Connection) -> tuple[Any, str, Settings]:
        row = _own(kb, conn, comment_id, token, when)
        key = thread_service.key_of(conn, row.thread_id)
        return row, key, thread_policy.settings_by_id(conn, kb.settings, row.thread_id)

    before, key_now, settings = await kb.db.read(read)
    offensive, findings = await _screen(
        settings, checks=True, key=key_now, body=body, html=html, name=before.author_name,
        email=before.author_email, url=before.author_url, parent_id=before.parent_id, who=who,
        honeypot=None, form=(None, True), edit=True,
    )  # fmt: skip
    held = policies.Verdict("pending" if findings else "approved", findings, "")
    if any(f.action == "spam" for f in findings):
        held.status = "spam"

    def tx(conn: Connection) -> tuple[Any, str]:
        row = _own(kb, conn, comment_id, token, when)
        bans.refuse_if_banned(conn, kb, email=row.author_email, voter_id=row.voter_id,
                              ip_hash=who.ip_hash, now=when)  # fmt: skip
        key = thread_service.key_of(conn, row.thread_id)
        conn.execute(
            sa.insert(comment_edits).values(
                comment_id=comment_id, account_id=None, body_md=row.body_md, created_at=when
            )
        )
        changes = {"body_md": body, "body_html": html, "edited_at": when,
                   "body_hash": policies.body_hash(body), "offensive": offensive}  # fmt: skip
        if findings and row.status in ("approved", "pending"):
            change_status(conn, kb, row, held.status, key=key, now=when,
                          held_for=held.held_for, **changes)  # fmt: skip
        else:
            conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(**changes))
            if on_page(row.status, row.reply_count):
                thread_service.bump(conn, row.thread_id)
                tell_streams_edited(conn, comment_id, now=when)
        after = get_row(conn, comment_id)
        if findings and row.status == "approved":
            moderator_alerts.tell_moderators(conn, kb, after, key, why="edited")
        return after, key

    row, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    return public(row)


async def delete(
    kb: Kibitz, comment_id: int, token: str | None, *, at: datetime | None = None
) -> Comment | None:
    """Delete one's own comment. With replies it stays as a "[deleted]" placeholder (returned);
    without, it leaves the page (None)."""
    when = at or thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = _own(kb, conn, comment_id, token, when)
        key = thread_service.key_of(conn, row.thread_id)
        change_status(
            conn, kb, row, "deleted", key=key, now=when, deleted_at=when, body_md="",
            body_html="", author_name="", author_email=None, author_url=None, body_hash=None,
        )  # fmt: skip
        return get_row(conn, comment_id), key

    after, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    return public(after) if after.reply_count > 0 else None
