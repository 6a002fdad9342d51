"""Votes: one per reader per comment, up or down, changed or taken back at will."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads, votes
from kibitz.live import events as live
from kibitz.mail import webhooks
from kibitz.models import Reader, VoteResult
from kibitz.services import bans
from kibitz.services import comments as comment_service
from kibitz.services import threads as thread_service
from kibitz.services.errors import Conflict, Forbidden, Invalid, NotFound
from kibitz.services.reading import wilson_lower_bound

# built once, with bound parameters: a vote runs most of them
_MINE = sa.and_(votes.c.comment_id == sa.bindparam("c"), votes.c.voter_id == sa.bindparam("v"))
_OLD = sa.select(votes.c.value).where(_MINE)
_TAKE_BACK = sa.delete(votes).where(_MINE)
_CHANGE = sa.update(votes).where(_MINE).values(value=sa.bindparam("value"),
                                                updated_at=sa.bindparam("at"))  # fmt: skip
_FIRST = sa.insert(votes)
_TOTALS = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("c"))
    .values(
        up=comments.c.up + sa.bindparam("d_up"),
        down=comments.c.down + sa.bindparam("d_down"),
        score=comments.c.score + sa.bindparam("d_up") - sa.bindparam("d_down"),
    )
    .returning(comments.c.up, comments.c.down, comments.c.score, comments.c.thread_id)
)
_WILSON = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("c"))
    .values(wilson=sa.bindparam("wilson"))
)


def _apply(conn: Connection, comment: Any, voter_id: str, value: int) -> tuple[Any, bool]:
    """Record the vote; return the comment's new totals and whether anything changed."""
    now = thread_service.now()
    mine = {"c": comment.id, "v": voter_id}
    old = conn.execute(_OLD, mine).scalar_one_or_none() or 0
    if value == old:
        return comment, False
    if value == 0:
        conn.execute(_TAKE_BACK, mine)
    elif old == 0:
        conn.execute(
            _FIRST,
            {"comment_id": comment.id, "voter_id": voter_id, "value": value,
             "created_at": now, "updated_at": now},
        )  # fmt: skip
    else:
        conn.execute(_CHANGE, {**mine, "value": value, "at": now})
    d_up = (value == 1) - (old == 1)
    d_down = (value == -1) - (old == -1)
    row = conn.execute(_TOTALS, {"c": comment.id, "d_up": d_up, "d_down": d_down}).one()
    conn.execute(_WILSON, {"c": comment.id, "wilson": wilson_lower_bound(row.up, row.down)})
    thread_service.bump(conn, row.thread_id)
    return row, True


def _announce(conn: Connection, kb: Kibitz, comment_id: int, key: str, row: Any) -> None:
    now = thread_service.now()
    webhooks.emit(
        conn, kb.settings, "vote.changed", f"{comment_id}:{now.timestamp()}",
        {"comment": comment_id, "thread": key, "up": row.up, "down": row.down,
         "score": row.score},
        now=now,
    )  # fmt: skip


def _vote(
    conn: Connection, kb: Kibitz, comment_id: int, voter_id: str, value: int,
    ip_hash: str | None = None,
) -> tuple[Any, bool, str]:  # fmt: skip
    comment = comment_service.get_row(conn, comment_id)
    if comment is None or comment.status in ("pending", "spam", "rejected"):
        raise NotFound("comment_not_found", "There is no such comment.")
    if comment.status == "deleted":
        raise Conflict("comment_deleted", "This comment was deleted.")
    if comment.voter_id is not None and comment.voter_id == voter_id:
        raise Forbidden("own_comment", "You cannot vote on your own comment.")
    shadow = bans.refuse_if_banned(
        conn, kb, email=None, voter_id=voter_id, ip_hash=ip_hash, now=thread_service.now()
    )
    if shadow is not None:  # a shadow-banned reader's vote counts for nothing, silently
        return comment, False, thread_service.key_of(conn, comment.thread_id)
    row, changed = _apply(conn, comment, voter_id, value)
    key = thread_service.key_of(conn, comment.thread_id)
    if changed:
        _announce(conn, kb, comment_id, key, row)
        totals = live.voted(comment_id, row.up, row.down, row.score)
        live.record(conn, comment.thread_id, "vote", totals, now=thread_service.now())
    return row, changed, key


async def vote(kb: Kibitz, comment_id: int, reader: Reader, value: int) -> VoteResult:
    if value not in (-1, 0, 1):
        raise Invalid("invalid_vote", "A vote is 1 (up), -1 (down) or 0 (take back).", "value")
    voter_id = reader.voter_id
    if voter_id is None:
        raise Forbidden("reader_unknown", "Voting needs to know who you are; reload the page.")
    try:
        row, changed, key = await kb.db.write(
            lambda conn: _vote(conn, kb, comment_id, voter_id, value, reader.ip_hash)
        )
    except IntegrityError:
        # two first votes from one reader at once: the other one won; apply ours over it
        row, changed, key = await kb.db.write(
            lambda conn: _vote(conn, kb, comment_id, voter_id, value, reader.ip_hash)
        )
    if changed:
        kb.cache.invalidate(key)
        kb.wake_worker()
    return VoteResult(up=row.up, down=row.down, score=row.score, my_vote=value)


async def my_votes(kb: Kibitz, key: str, voter_id: str | None) -> dict[int, int]:
    """The reader's votes in a thread (comment id -> 1 or -1), for the widget to show."""
    if voter_id is None:
        return {}
    query = (
        sa.select(votes.c.comment_id, votes.c.value)
        .join(comments, comments.c.id == votes.c.comment_id)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(threads.c.key == key, votes.c.voter_id == voter_id)
    )
    rows = await kb.db.read(lambda conn: list(conn.execute(query)))
    return {r.comment_id: r.value for r in rows}
