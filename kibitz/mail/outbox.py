"""The outbox: rows written in the same transaction as the event that causes them, then
claimed and carried out by a worker. Nothing is sent from inside a request.

Claiming is one conditional UPDATE, so two workers never take the same row: SQLite has one
writer at a time; on PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED.
A claim is a lease: a row whose worker died is claimed again once the lease runs out.
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


def enqueue(
    conn: Connection, topic: str, key: str, payload: dict[str, Any], *, at: datetime
) -> None:
    """Queue work once per key: queuing the same key again does nothing."""
    insert: Any = (
        postgresql.insert(outbox) if conn.dialect.name == "postgresql" else sqlite.insert(outbox)
    )
    conn.execute(
        insert.values(
            topic=topic, idempotency_key=key[:200], payload=json.dumps(payload),
            status="queued", attempts=0, next_attempt_at=at, created_at=at,
        ).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )  # fmt: skip


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
            outbox.c.attempts,
        )
    ).all()  # fmt: skip
    jobs = [Job(r.id, r.topic, r.idempotency_key, json.loads(r.payload), r.attempts) for r in rows]
    return sorted(jobs, key=lambda j: j.id)


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
    conn: Connection, job: Job, worker: str, error: str, *, now: datetime, max_attempts: int
) -> bool:
    """Record a failure; retry later, or give up for good. True when it gave up."""
    give_up = job.attempts >= max_attempts
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
    return {status: n for status, n in rows.tuples()}
