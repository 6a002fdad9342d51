"""The outbox: rows written in the same transaction as the event that causes them, then
claimed and carried out by a worker. Nothing is sent from inside a request.

Claiming is one conditional UPDATE, so two workers never take the same row: SQLite has one
writer at a time; on PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED.
A claim is a lease: a row whose worker died is claimed again once the lease runs out, and
a worker renews its lease on each row right before carrying it out (``renew``), so a batch
that outlasts the lease never has a row sent by two workers.

A row that fails is retried with backoff (up to hourly) until it is older than the give-up
age, then marked failed; an admin can queue failed rows again (``requeue``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz.db.tables import outbox


@dataclass(frozen=True)
class Job:
    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    attempts: int
    # when the row was queued (or last queued again by an admin): the give-up age counts from it
    since: datetime


def enqueue(
    conn: Connection, topic: str, key: str, payload: dict[str, Any], *, at: datetime
) -> None:
    """Queue work once per key: queuing the same key again does nothing."""
    conn.execute(
        _ENQUEUE[conn.dialect.name],
        {"topic": topic, "idempotency_key": key[:200], "payload": json.dumps(payload),
         "status": "queued", "attempts": 0, "next_attempt_at": at, "created_at": at},
    )  # fmt: skip


# built once per dialect (every post queues at least one row)
_ENQUEUE: dict[str, Any] = {
    name: dialect.insert(outbox).on_conflict_do_nothing(index_elements=["idempotency_key"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def claim(
    conn: Connection, worker: str, *, now: datetime, lease: timedelta, limit: int = 20
) -> list[Job]:
    due = sa.or_(
        sa.and_(outbox.c.status == "queued", outbox.c.next_attempt_at <= now),
        sa.and_(outbox.c.status == "sending", outbox.c.locked_until < now),
    )
    candidates = sa.select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    rows = conn.execute(
        sa.update(outbox)
        .where(outbox.c.id.in_(candidates.scalar_subquery()), due)
        .values(
            status="sending",
            locked_until=now + lease,
            locked_by=worker,
            attempts=outbox.c.attempts + 1,
        )
        .returning(
            outbox.c.id, outbox.c.topic, outbox.c.idempotency_key, outbox.c.payload,
            outbox.c.attempts, sa.func.coalesce(outbox.c.retried_at, outbox.c.created_at),
        )
    ).all()  # fmt: skip
    jobs = [Job(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


def renew(conn: Connection, job: Job, worker: str, *, now: datetime, lease: timedelta) -> bool:
    """Extend this worker's lease on the row, right before carrying it out; False when the
    lease ran out meanwhile (another worker may have claimed the row): then leave it alone."""
    row = conn.execute(
        sa.update(outbox)
        .where(
            outbox.c.id == job.id,
            outbox.c.status == "sending",
            outbox.c.locked_by == worker,
            outbox.c.locked_until > now,
        )
        .values(locked_until=now + lease)
        .returning(outbox.c.id)
    ).first()
    return row is not None


def done(conn: Connection, job: Job, worker: str, *, now: datetime) -> None:
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == job.id, outbox.c.locked_by == worker)
        .values(status="sent", sent_at=now, locked_until=None, last_error=None)
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 1 hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def failed(
    conn: Connection, job: Job, worker: str, error: str, *, now: datetime, give_up_after: timedelta
) -> bool:
    """Record a failure; retry later, or give up when the row has been failing since longer
    than ``give_up_after``. True when it gave up."""
    give_up = now - job.since >= give_up_after
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == job.id, outbox.c.locked_by == worker)
        .values(
            status="failed" if give_up else "queued",
            next_attempt_at=now + backoff(job.attempts),
            locked_until=None,
            last_error=error[:2000],
        )
    )
    return give_up


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))
    return {status: n for status, n in rows}


def counts_by_kind(conn: Connection) -> list[tuple[str, str, int]]:
    """(status, topic, rows), for every pair that has rows."""
    query = (
        sa.select(outbox.c.status, outbox.c.topic, sa.func.count())
        .group_by(outbox.c.status, outbox.c.topic)
        .order_by(outbox.c.status, outbox.c.topic)
    )
    return [(status, topic, n) for status, topic, n in conn.execute(query)]


def oldest_waiting(conn: Connection) -> datetime | None:
    """When the oldest row not yet sent (queued or being sent) was queued."""
    since = sa.func.coalesce(outbox.c.retried_at, outbox.c.created_at)
    query = sa.select(sa.func.min(since)).where(outbox.c.status.in_(("queued", "sending")))
    found: datetime | None = conn.execute(query).scalar()
    return found


def recent_failures(conn: Connection, limit: int) -> list[Any]:
    """The last rows given up, newest first."""
    return list(
        conn.execute(
            sa.select(outbox.c.id, outbox.c.topic, outbox.c.payload, outbox.c.attempts,
                      outbox.c.last_error, outbox.c.created_at, outbox.c.next_attempt_at)
            .where(outbox.c.status == "failed")
            .order_by(outbox.c.id.desc())
            .limit(limit)
        ).all()
    )  # fmt: skip


def requeue(
    conn: Connection, *, now: datetime, ids: list[int] | None = None, all_failed: bool = False
) -> list[int]:
    """Queue rows again, due now, with a fresh give-up age: every failed row, and the rows
    ``ids`` that are failed or waiting for a retry (never one sent or being sent)."""
    which = []
    if all_failed:
        which.append(outbox.c.status == "failed")
    if ids:
        which.append(sa.and_(outbox.c.id.in_(ids), outbox.c.status.in_(("failed", "queued"))))
    if not which:
        return []
    query = (
        sa.update(outbox)
        .where(sa.or_(*which))
        .values(status="queued", next_attempt_at=now, retried_at=now, locked_until=None,
                locked_by=None)
        .returning(outbox.c.id)
    )  # fmt: skip
    return sorted(conn.execute(query).scalars().all())
