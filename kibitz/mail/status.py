"""What the admin sees of the outbox (``kibitz mail status``, /admin/mail) and how they queue
failed rows again (``kibitz mail retry``, the page's Retry button).

Readers' addresses are shown masked (``n…@example.org``), here and in the worker's log: the
admin needs to tell one failure from another and the domain that refused, not who reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.mail import outbox
from kibitz.services import audit
from kibitz.services import threads as thread_service

ADDRESS = re.compile(r"([A-Za-z0-9._%+\-!#$&*/=?^{|}~]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


def mask_address(address: str) -> str:
    local, at, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if at else "…"


def mask_addresses(text: str) -> str:
    """Every e-mail address in ``text`` masked (an SMTP error often quotes the recipient)."""
    return ADDRESS.sub(lambda m: f"{m.group(1)[:1]}…@{m.group(2)}", text)


def described(job: outbox.Job) -> str:
    """A row as the log names it: its id and key, without a webhook's URL (it may hold a
    credential of the receiver's)."""
    key = job.key.split(":http", 1)[0] if job.topic == "webhook" else job.key
    return f"{job.topic} #{job.id} {key}"


def recipient(topic: str, payload: dict[str, Any]) -> str:
    """Whom a row is for, fit to show: a masked address, a webhook's origin, a comment."""
    if topic == "mail":
        return mask_address(str(payload.get("to", "")))
    if topic == "webhook":
        parts = urlsplit(str(payload.get("url", "")))
        return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "…"
    if topic == "fanout":
        return f"readers of comment {payload.get('comment_id')}"
    return "…"


@dataclass(frozen=True)
class Failure:
    id: int
    topic: str
    what: str  # a mail's subject, a webhook's event
    to: str  # masked
    attempts: int
    error: str  # with addresses masked
    created_at: datetime
    failed_at: datetime


@dataclass(frozen=True)
class Report:
    counts: list[tuple[str, str, int]]  # status, topic, rows
    oldest_waiting: timedelta | None  # age of the oldest row not yet sent
    failures: list[Failure]

    def total(self, status: str) -> int:
        return sum(n for s, _, n in self.counts if s == status)

    def as_dict(self) -> dict[str, Any]:
        waiting = self.oldest_waiting
        return {
            "counts": [{"status": s, "kind": t, "rows": n} for s, t, n in self.counts],
            "oldest_waiting_seconds": int(waiting.total_seconds()) if waiting else None,
            "failures": [
                {"id": f.id, "kind": f.topic, "what": f.what, "to": f.to,
                 "attempts": f.attempts, "error": f.error,
                 "created_at": f.created_at.isoformat(), "failed_at": f.failed_at.isoformat()}
                for f in self.failures
            ],
        }  # fmt: skip


def _failure(row: Any) -> Failure:
    payload = json.loads(row.payload)
    if row.topic == "mail":
        what = str(payload.get("subject", ""))
    elif row.topic == "webhook":
        what = str(payload.get("body", {}).get("type", ""))
    else:
        what = row.topic
    return Failure(
        id=row.id, topic=row.topic, what=what, to=recipient(row.topic, payload),
        attempts=row.attempts, error=mask_addresses(row.last_error or ""),
        created_at=row.created_at, failed_at=row.next_attempt_at,
    )  # fmt: skip


def _report(conn: Connection, now: datetime, limit: int) -> Report:
    oldest = outbox.oldest_waiting(conn)
    return Report(
        counts=outbox.counts_by_kind(conn),
        oldest_waiting=None if oldest is None else max(now - oldest, timedelta(0)),
        failures=[_failure(r) for r in outbox.recent_failures(conn, limit)],
    )


async def report(kb: Kibitz, *, limit: int = 20) -> Report:
    now = thread_service.now()
    return await kb.db.read(lambda conn: _report(conn, now, limit))


async def retry(
    kb: Kibitz, actor: audit.Actor, *, ids: list[int] | None = None, all_failed: bool = False
) -> list[int]:
    """Queue rows again, due now and with a fresh give-up age (see ``outbox.requeue``); the
    audit log says who did it and which rows. Returns the ids queued."""
    now = thread_service.now()

    def tx(conn: Connection) -> list[int]:
        queued = outbox.requeue(conn, now=now, ids=ids, all_failed=all_failed)
        if queued:
            target = "outbox:failed" if all_failed else "outbox:" + ",".join(map(str, queued))
            audit.record(conn, actor, "retry_mail", target, after={"queued": queued}, now=now)
        return queued

    queued = await kb.db.write(tx)
    if queued:
        kb.wake_worker()
    return queued
