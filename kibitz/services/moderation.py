"""Moderation actions that notifications need now: approve or reject a held comment.

The dashboard, policies, reports and bans build on these (see the moderation issue).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads
from kibitz.live import events as live
from kibitz.models import Comment
from kibitz.services import threads as thread_service
from kibitz.services.comments import _became_visible, _row, announce, public
from kibitz.services.errors import Conflict, NotFound


async def decide(kb: Kibitz, comment_id: int, action: str) -> Comment:
    """Approve (it appears, its notifications go out) or reject a held comment."""
    now = thread_service.now()

    def tx(conn: Connection) -> tuple[Any, str]:
        row = _row(conn, comment_id)
        if row is None:
            raise NotFound("comment_not_found", "There is no such comment.")
        if row.status != "pending":
            raise Conflict("not_pending", f"This comment is already {row.status}.")
        key = thread_service.key_of(conn, row.thread_id)
        status = "approved" if action == "approve" else "rejected"
        conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(status=status))
        if status == "approved":
            _became_visible(conn, row.parent_id)
            thread_service.bump(
                conn, row.thread_id, comment_count=threads.c.comment_count + 1,
                last_comment_at=row.created_at,
            )  # fmt: skip
            announce(conn, kb, comment_id, key, "comment.approved", now=now)
            after = _row(conn, comment_id)
            shown = live.shown(public(after), root_id=after.root_id, depth=after.depth)
            live.record(conn, row.thread_id, "comment", shown, now=now)
        return _row(conn, comment_id), key

    row, key = await kb.db.write(tx)
    kb.cache.invalidate(key)
    kb.wake_worker()
    return public(row)
