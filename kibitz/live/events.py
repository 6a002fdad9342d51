"""The event log: every change a reader of a thread would see, written in the transaction
of the change and numbered 1, 2, 3 ... per thread, so that a stream can resume from the
number it last saw (Last-Event-ID) and miss nothing.

Numbers come from ``threads.event_seq``, bumped in the same transaction: the bump locks the
thread's row until commit, so on every database the events of a thread commit in number
order, and once event n is visible so is every event before it. Numbers have no gaps, so a
hole in what a resume reads means the log was pruned there, and the stream says ``reset``.

Events are kept ``live_retention_seconds`` and pruned by every ``kibitz serve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.db.tables import events, threads
from kibitz.models import Comment


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: str

    def frame(self) -> bytes:
        """The event as a server-sent events frame."""
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


@dataclass(frozen=True, slots=True)
class Position:
    """Where a thread's event log stands, and what a stream needs to know on opening."""

    thread_id: int | None
    seq: int
    count: int
    closed: bool
    last_activity: datetime | None


# built once: every write a reader sees runs both
_NEXT = (
    sa.update(threads)
    .where(threads.c.id == sa.bindparam("t"))
    .values(event_seq=threads.c.event_seq + 1)
    .returning(threads.c.event_seq, threads.c.comment_count, threads.c.key)
)
_NEXT_ADDED = _NEXT.values(
    version=threads.c.version + 1,
    comment_count=threads.c.comment_count + 1,
    last_comment_at=sa.bindparam("at"),
)
_APPEND = sa.insert(events)


def record(
    conn: Connection, thread_id: int, kind: str, payload: dict[str, Any], *, now: datetime,
    comment_added: bool = False,
) -> int:  # fmt: skip
    """Append an event to the thread's log in the caller's transaction; return its number.

    Call it after the change itself, so that ``count`` is the count after the change; with
    ``comment_added`` the change is one more visible comment: the thread's count, version
    and latest comment time change in the same statement (posting runs one fewer).
    """
    if comment_added:
        row = conn.execute(_NEXT_ADDED, {"t": thread_id, "at": now}).one()
    else:
        row = conn.execute(_NEXT, {"t": thread_id}).one()
    data = msgspec.json.encode({"thread": row.key, "count": row.comment_count, **payload})
    conn.execute(
        _APPEND,
        {"thread_id": thread_id, "seq": row.event_seq, "kind": kind, "data": data.decode(),
         "created_at": now},
    )  # fmt: skip
    return int(row.event_seq)


def comment_data(comment: Comment) -> dict[str, Any]:
    """A comment as events carry it: the API's shape, without replies."""
    data: dict[str, Any] = msgspec.to_builtins(comment)
    data.pop("replies", None)
    return data


def shown(comment: Comment, *, root_id: int | None, depth: int) -> dict[str, Any]:
    """``comment``: a comment appeared (posted, or approved by a moderator)."""
    return {"comment": comment_data(comment), "root_id": root_id, "depth": depth}


def edited(comment: Comment) -> dict[str, Any]:
    """``edit``: a comment's text changed."""
    return {"comment": comment_data(comment)}


def deleted(comment_id: int, placeholder: Comment | None, removed: list[int]) -> dict[str, Any]:
    """``delete``: a comment was deleted. It stays as a placeholder (it has replies), or it
    and any deleted ancestors left without replies (``removed``) leave the page."""
    return {
        "id": comment_id,
        "comment": comment_data(placeholder) if placeholder is not None else None,
        "removed": removed,
    }


def voted(comment_id: int, up: int, down: int, score: int) -> dict[str, Any]:
    """``vote``: a comment's totals changed."""
    return {"id": comment_id, "votes": {"up": up, "down": down, "score": score}}


def thread_changed(row: Any) -> dict[str, Any]:
    """``thread``: the thread was renamed, moved, closed or reopened."""
    return {"title": row.title, "url": row.url, "closed": bool(row.closed)}


def position(conn: Connection, key: str) -> Position:
    row = conn.execute(
        sa.select(
            threads.c.id, threads.c.event_seq, threads.c.comment_count, threads.c.closed,
            sa.func.coalesce(threads.c.last_comment_at, threads.c.created_at).label("active"),
        ).where(threads.c.key == key)
    ).first()  # fmt: skip
    if row is None:
        return Position(None, 0, 0, False, None)
    return Position(row.id, row.event_seq, row.comment_count, bool(row.closed), row.active)


def since(conn: Connection, key: str, seq: int, limit: int) -> list[Event]:
    """The thread's events after number ``seq``, oldest first, at most ``limit``."""
    rows = conn.execute(
        sa.select(events.c.seq, events.c.kind, events.c.data)
        .join(threads, threads.c.id == events.c.thread_id)
        .where(threads.c.key == key, events.c.seq > seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [Event(r.seq, r.kind, r.data) for r in rows]


def positions(conn: Connection, keys: list[str]) -> dict[str, int]:
    """The newest event number of each of these threads (absent: no thread yet)."""
    query = sa.select(threads.c.key, threads.c.event_seq).where(threads.c.key.in_(keys))
    return {r.key: r.event_seq for r in conn.execute(query)}


def forget(conn: Connection, thread_ids: set[int]) -> None:
    """Drop these threads' logged events (an erasure: they may quote the reader). Streams
    resuming from before that see the hole and reload the thread (``reset``)."""
    if thread_ids:
        conn.execute(sa.delete(events).where(events.c.thread_id.in_(sorted(thread_ids))))


def prune(conn: Connection, before: datetime) -> int:
    result = conn.execute(sa.delete(events).where(events.c.created_at < before))
    return int(result.rowcount or 0)
