"""The audit log: who did what to which comment, thread, ban or account, and when, with what
changed (before and after). Written in the transaction of the action it records."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import audit_log
from kibitz.services import threads as thread_service

PAGE = 100


@dataclass(frozen=True)
class Actor:
    """Who acts: a moderator's account, or something else named (a mail link, reports)."""

    account_id: int | None
    name: str
    role: str = ""


MAIL_LINK = Actor(None, "mail link")
REPORTS = Actor(None, "reader reports")
READER = Actor(None, "the reader")
SYSTEM = Actor(None, "command line")


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    conn.execute(
        sa.insert(audit_log).values(
            at=now or thread_service.now(),
            account_id=actor.account_id,
            actor=actor.name[:100],
            action=action,
            target=target[:600],
            before=_json(before),
            after=_json(after),
        )
    )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


def _entry(row: Any) -> Entry:
    return Entry(
        row.id,
        row.at,
        row.actor,
        row.action,
        row.target,
        json.loads(row.before) if row.before else None,
        json.loads(row.after) if row.after else None,
    )


def _query(action: str | None, target: str | None) -> sa.Select[Any]:
    query = sa.select(audit_log)
    if action:
        query = query.where(audit_log.c.action == action)
    if target:
        query = query.where(audit_log.c.target == target)
    return query


async def page(
    kb: Kibitz,
    *,
    before_id: int | None = None,
    action: str | None = None,
    target: str | None = None,
    limit: int = PAGE,
) -> tuple[list[Entry], int | None]:
    """Newest first; returns the entries and the id to pass as ``before_id`` for more."""
    query = _query(action, target).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = await kb.db.read(lambda conn: list(conn.execute(query)))
    entries = [_entry(r) for r in rows[:limit]]
    return entries, (entries[-1].id if len(rows) > limit else None)


async def export(kb: Kibitz, fmt: str) -> str:
    """The whole log, oldest first, as CSV or JSON Lines."""
    rows = await kb.db.read(
        lambda conn: list(conn.execute(_query(None, None).order_by(audit_log.c.id)))
    )
    entries = [_entry(r).as_dict() for r in rows]
    if fmt == "jsonl":
        return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "target", "before", "after"])
    for e in entries:
        writer.writerow(
            [
                e["id"],
                e["at"],
                e["actor"],
                e["action"],
                e["target"],
                json.dumps(e["before"], ensure_ascii=False) if e["before"] is not None else "",
                json.dumps(e["after"], ensure_ascii=False) if e["after"] is not None else "",
            ]
        )
    return out.getvalue()


def forget_fields(conn: Connection, targets: list[str], fields: tuple[str, ...]) -> None:
    """Erasure: take these fields out of what the entries about these targets kept, and
    leave the rest (a ledger entry's amounts stay, its donor's public name goes)."""
    for chunk in range(0, len(targets), 500):
        rows = conn.execute(
            sa.select(audit_log.c.id, audit_log.c.before, audit_log.c.after).where(
                audit_log.c.target.in_(targets[chunk : chunk + 500])
            )
        ).all()
        for row in rows:
            changes = {}
            for name in ("before", "after"):
                kept = json.loads(getattr(row, name)) if getattr(row, name) else None
                if isinstance(kept, dict) and any(f in kept for f in fields):
                    changes[name] = _json({k: v for k, v in kept.items() if k not in fields})
            if changes:
                conn.execute(sa.update(audit_log).where(audit_log.c.id == row.id).values(changes))


def redact(conn: Connection, targets: list[str]) -> None:
    """Erasure: keep that something happened to these targets, forget what they said."""
    for chunk in range(0, len(targets), 500):
        conn.execute(
            sa.update(audit_log)
            .where(audit_log.c.target.in_(targets[chunk : chunk + 500]))
            .values(before=_json({"erased": True}), after=_json({"erased": True}))
        )
