"""What moderators do to comments and threads: approve, reject, mark spam, delete, edit, pin,
feature, close a comment's conversation to replies; close, reopen and set a thread's
pre-moderation. One or many comments at once.

Every action is one transaction that also writes the audit log, keeps the counts right
(through ``comments.change_status``) and queues notifications for a comment published for
the first time; the thread's cached pages are dropped after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comment_edits, comments, reports
from kibitz.models import Comment
from kibitz.services import audit, policies
from kibitz.services import threads as thread_service
from kibitz.services.comments import (
    change_status,
    check_body,
    get_row,
    on_page,
    public,
    render,
    tell_streams_edited,
)
from kibitz.services.errors import Conflict, Invalid, NotFound

ACTIONS = (
    "approve", "reject", "spam", "delete", "pin", "unpin", "feature", "unfeature",
    "close_replies", "open_replies",
)  # fmt: skip
MAX_BULK = 200
STATUS_OF = {"approve": "approved", "reject": "rejected", "spam": "spam", "delete": "deleted"}


@dataclass
class Outcome:
    done: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _resolve_reports(conn: Connection, comment_id: int, now: datetime) -> int:
    return conn.execute(
        sa.update(reports)
        .where(reports.c.comment_id == comment_id, reports.c.resolved_at.is_(None))
        .values(resolved_at=now)
    ).rowcount


def _snapshot(row: Any) -> dict[str, Any]:
    return {
        "status": row.status,
        "pinned": row.pinned_at is not None,
        "featured": bool(row.featured),
        "replies_closed": row.replies_closed_at is not None,
    }


def _apply(
    conn: Connection, kb: Kibitz, actor: audit.Actor, row: Any, action: str, now: datetime
) -> tuple[str, str | None]:
    """Carry out one action on one comment; returns the thread key and why it was skipped."""
    key = thread_service.key_of(conn, row.thread_id)
    target = f"comment:{row.id}"
    if action in STATUS_OF:
        status = STATUS_OF[action]
        if row.status == "deleted" and not row.body_md:
            return key, "deleted by its author: nothing is left to act on"
        open_reports = _resolve_reports(conn, row.id, now)
        if row.status == status:
            if not open_reports:
                return key, f"already {status}"
            audit.record(
                conn,
                actor,
                "dismiss_reports",
                target,
                before={"reports": open_reports},
                after={"reports": 0},
                now=now,
            )
            return key, None
        extra: dict[str, Any] = {"deleted_at": now if status == "deleted" else None}
        if status != "approved":
            extra["pinned_at"] = None  # a pinned comment that goes away is no longer pinned
        change_status(conn, kb, row, status, key=key, now=now, **extra)
        audit.record(
            conn,
            actor,
            action,
            target,
            before=_snapshot(row),
            after={**_snapshot(row), "status": status},
            now=now,
        )
        return key, None
    if action in ("pin", "unpin"):
        if action == "pin" and (row.parent_id is not None or row.status != "approved"):
            return key, "only published top-level comments can be pinned"
        pinned = now if action == "pin" else None
        if (row.pinned_at is not None) == (pinned is not None):
            return key, f"already {'pinned' if pinned else 'not pinned'}"
        values: dict[str, Any] = {"pinned_at": pinned}
    elif action in ("close_replies", "open_replies"):
        if row.parent_id is not None:
            return key, "only a top-level comment's conversation can be closed"
        closed = now if action == "close_replies" else None
        if (row.replies_closed_at is not None) == (closed is not None):
            return key, f"replies already {'closed' if closed else 'open'}"
        values = {"replies_closed_at": closed}
    else:
        featured = action == "feature"
        if bool(row.featured) == featured:
            return key, f"already {'featured' if featured else 'not featured'}"
        values = {"featured": featured}
    conn.execute(sa.update(comments).where(comments.c.id == row.id).values(**values))
    if on_page(row.status, row.reply_count):
        thread_service.bump(conn, row.thread_id)
        tell_streams_edited(conn, row.id, now=now)
    after = _snapshot(conn.execute(sa.select(comments).where(comments.c.id == row.id)).one())
    audit.record(conn, actor, action, target, before=_snapshot(row), after=after, now=now)
    return key, None


async def act(kb: Kibitz, actor: audit.Actor, comment_ids: list[int], action: str) -> Outcome:
    """Apply ``action`` to each comment, all in one transaction."""
    if action not in ACTIONS:
        raise Invalid("invalid_action", f"Actions are {', '.join(ACTIONS)}.", "action")
    ids = list(dict.fromkeys(comment_ids))
    if not ids:
        raise Invalid("required", "Select at least one comment.", "ids")
    if len(ids) > MAX_BULK:
        raise Invalid("too_many", f"Act on at most {MAX_BULK} comments at once.", "ids")
    now = thread_service.now()

    def tx(conn: Connection) -> tuple[Outcome, set[str]]:
        outcome, keys = Outcome(), set()
        for comment_id in ids:
            row = get_row(conn, comment_id)
            if row is None:
                outcome.skipped.append((comment_id, "no such comment"))
                continue
            key, why = _apply(conn, kb, actor, row, action, now)
            keys.add(key)
            if why is None:
                outcome.done.append(comment_id)
            else:
                outcome.skipped.append((comment_id, why))
        return outcome, keys

    outcome, keys = await kb.db.write(tx)
    for key in keys:
        kb.cache.invalidate(key)
    kb.wake_worker()
    return outcome


async def decide(
    kb: Kibitz, comment_id: int, action: str, actor: audit.Actor = audit.MAIL_LINK, *,
    held: int | None = None,
) -> Comment:  # fmt: skip
    """Approve (it appears, its notifications go out) or reject a held comment: what the
    signed links in moderators' mail do. Single use: a comment no longer held is refused,
    and so is one held again since (``held``: the status version the link was made for)."""
    if action not in ("approve", "reject"):
        raise Invalid("invalid_action", "Approve or reject.", "action")
    now = thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = get_row(conn, comment_id)
        if row is None:
            raise NotFound("comment_not_found", "There is no such comment.")
        if row.status != "pending":
            raise Conflict("not_pending", f"This comment is already {row.status}.")
        if held is not None and row.status_version != held:
            raise Conflict(
                "link_used", "This comment was moderated since this link was mailed; "
                "a newer mail has the links for it now."
            )  # fmt: skip
        key, _ = _apply(conn, kb, actor, row, action, now)
        return get_row(conn, comment_id), key

    row, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    return public(row)


async def edit(kb: Kibitz, actor: audit.Actor, comment_id: int, body: str) -> Comment:
    """A moderator's edit: the text before is kept in the edit history and the audit log."""
    text = check_body(kb.settings, body)
    html = render(kb.settings, text)
    now = thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = get_row(conn, comment_id)
        if row is None or (row.status == "deleted" and not row.body_md):
            raise NotFound("comment_not_found", "There is no such comment.")
        if row.body_md == text:
            return row, thread_service.key_of(conn, row.thread_id)
        conn.execute(
            sa.insert(comment_edits).values(
                comment_id=comment_id,
                account_id=actor.account_id,
                body_md=row.body_md,
                created_at=now,
            )
        )
        conn.execute(
            sa.update(comments)
            .where(comments.c.id == comment_id)
            .values(body_md=text, body_html=html, edited_at=now, body_hash=policies.body_hash(text))
        )
        if on_page(row.status, row.reply_count):
            thread_service.bump(conn, row.thread_id)
            tell_streams_edited(conn, comment_id, now=now)
        audit.record(
            conn,
            actor,
            "edit",
            f"comment:{comment_id}",
            before={"body": row.body_md},
            after={"body": text},
            now=now,
        )
        return get_row(conn, comment_id), thread_service.key_of(conn, row.thread_id)

    row, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    return public(row)


async def set_thread(
    kb: Kibitz,
    actor: audit.Actor,
    key: str,
    *,
    closed: bool | None = None,
    mode: str | None = None,
    set_mode: bool = False,
) -> None:
    """Close or reopen a thread; set its pre-moderation (``mode`` None: the site's)."""
    mode = policies.check_mode(mode)
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        row = thread_service.get_row(conn, key)
        if row is None:
            raise NotFound("thread_not_found", f"No thread with key {key!r}.", "thread")
        before = {"closed": bool(row.closed), "moderation": row.moderation}
        changes: dict[str, Any] = {}
        if closed is not None and bool(row.closed) != closed:
            changes["closed"] = closed
        if set_mode and row.moderation != mode:
            changes["moderation"] = mode
        if not changes:
            return
        thread_service.bump(conn, row.id, **changes)
        after = {**before, **changes}
        action = "thread_policy"
        if "closed" in changes and "moderation" not in changes:
            action = "close_thread" if closed else "reopen_thread"
        audit.record(conn, actor, action, f"thread:{key}", before=before, after=after, now=now)

    await kb.db.write(tx)
    kb.cache.invalidate(key)
