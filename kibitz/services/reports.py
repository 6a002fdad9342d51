"""Readers report comments (spam, abuse, off-topic, other); enough reports from different
readers hold a published comment until a moderator looks at it."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz.context import Kibitz
from kibitz.db.tables import reports
from kibitz.models import Reader, ReportIn, ReportResult
from kibitz.services import audit, bans, moderator_alerts, policies, thread_policy
from kibitz.services import threads as thread_service
from kibitz.services.comments import change_status, get_row
from kibitz.services.errors import Conflict, Forbidden, NotFound

MAX_NOTE = 500


def open_reporters(conn: Connection, comment_id: int) -> int:
    """Distinct readers with an open report: one person with many cookies counts once per
    address."""
    who = sa.func.coalesce(reports.c.ip_hash, reports.c.voter_id)
    query = sa.select(sa.func.count(sa.distinct(who))).where(
        reports.c.comment_id == comment_id, reports.c.resolved_at.is_(None)
    )
    return int(conn.execute(query).scalar_one())


async def report(kb: Kibitz, comment_id: int, who: Reader, data: ReportIn) -> ReportResult:
    if who.voter_id is None:
        raise Forbidden("no_voter", "Reporting needs the voter cookie; enable cookies.")
    note = " ".join(data.note.split())[:MAX_NOTE]
    now = thread_service.now()

    def tx(conn: Connection) -> tuple[ReportResult, str | None]:
        row = get_row(conn, comment_id)
        if row is None or row.status in ("pending", "spam", "rejected"):
            raise NotFound("comment_not_found", "There is no such comment.")
        if row.status == "deleted":
            raise Conflict("comment_deleted", "This comment was deleted.")
        if row.voter_id is not None and row.voter_id == who.voter_id:
            raise Forbidden("own_comment", "You cannot report your own comment.")
        shadow = bans.refuse_if_banned(
            conn, kb, email=None, voter_id=who.voter_id, ip_hash=who.ip_hash, now=now
        )
        if shadow is not None:
            return ReportResult("reported"), None  # counted nowhere, and not told so
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            reports
        )
        added = conn.execute(
            insert.values(
                comment_id=comment_id,
                reason=data.reason,
                note=note,
                voter_id=who.voter_id,
                ip_hash=who.ip_hash,
                created_at=now,
            ).on_conflict_do_nothing(index_elements=["comment_id", "voter_id"])
        ).rowcount
        if not added:
            return ReportResult("already_reported"), None
        n = open_reporters(conn, comment_id)
        settings = thread_policy.settings_by_id(conn, kb.settings, row.thread_id)
        if row.status != "approved" or n < settings.moderation_reports_to_hold:
            return ReportResult("reported"), None
        key = thread_service.key_of(conn, row.thread_id)
        found = [*policies.reasons(row.held_for), {"code": "reports", "note": f"{n} reports"}]
        change_status(conn, kb, row, "pending", key=key, now=now, held_for=json.dumps(found))
        audit.record(
            conn,
            audit.REPORTS,
            "hold",
            f"comment:{comment_id}",
            before={"status": "approved"},
            after={"status": "pending", "reports": n},
            now=now,
        )
        moderator_alerts.tell_moderators(conn, kb, get_row(conn, comment_id), key, why="reported")
        return ReportResult("reported"), key

    result, held_key = await kb.db.write(tx)
    if held_key is not None:
        kb.cache.invalidate(held_key)
        kb.wake_worker()
    return result
