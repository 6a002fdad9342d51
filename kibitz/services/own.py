"""A reader's own state in a thread, for them alone: their comments waiting for a moderator,
whether they may post, and a fresh form token. Never cached by anyone."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads
from kibitz.models import Ban, Comment, Reader
from kibitz.services import bans, policies
from kibitz.services import threads as thread_service
from kibitz.services.comments import PUBLIC_COLUMNS, public

MAX_PENDING = 50


def _shadowed(row: Any) -> bool:
    return any(f.get("code") == "shadow_ban" for f in policies.reasons(row.held_for))


async def pending(kb: Kibitz, key: str, voter_id: str | None) -> list[Comment]:
    """The reader's comments in the thread that nobody else sees yet, oldest first:
    held ones marked ``pending``; a shadow-banned reader's look published to them."""
    if voter_id is None:
        return []
    query = (
        sa.select(*PUBLIC_COLUMNS, comments.c.held_for)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            threads.c.key == key,
            comments.c.voter_id == voter_id,
            comments.c.status.in_(("pending", "spam")),
        )
        .order_by(comments.c.created_at, comments.c.id)
        .limit(MAX_PENDING)
    )
    rows = await kb.db.read(lambda conn: list(conn.execute(query)))
    out = []
    for row in rows:
        if row.status == "spam" and not _shadowed(row):
            continue  # what the checks took for spam is not shown, not even to its sender
        comment = public(row)
        if row.status == "spam":
            comment.status = "approved"
        out.append(comment)
    return out


async def ban(kb: Kibitz, who: Reader) -> Ban | None:
    """Why the reader may not post, if a ban they may be told of applies to them."""
    now = thread_service.now()

    def read(conn: Connection) -> Any:
        return bans.active(
            conn, kb, email=None, voter_id=who.voter_id, ip_hash=who.ip_hash, now=now
        )

    found = await kb.db.read(read)
    if found is None or found.shadow:
        return None
    return Ban("banned", bans.refusal(found).message, found.expires_at)
