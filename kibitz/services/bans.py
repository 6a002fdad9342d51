"""Bans: readers who may not post, vote or report, found by their e-mail address, their voter
cookie or their keyed IP hash; with a reason, an optional expiry, and shadow bans.

No address is stored: an e-mail ban keeps a keyed hash of the address, an IP ban the keyed
IP hash kibitz already keeps, a voter ban the random voter id. A shadow-banned reader is not
told: their comments are stored as spam, yet shown to them as if published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import BAN_KINDS, bans, comments
from kibitz.services import audit
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email, email_key
from kibitz.services.errors import Forbidden, Invalid, NotFound

KIND_LABELS = {"email": "e-mail address", "voter": "voter cookie", "ip": "IP address (hash)"}


def email_value(kb: Kibitz, email: str) -> str:
    return kb.signer.keyed_hash("ban-email", email_key(email))


def active(
    conn: Connection,
    kb: Kibitz,
    *,
    email: str | None,
    voter_id: str | None,
    ip_hash: str | None,
    now: datetime,
) -> Any:
    """The ban that applies to this reader now, if any (an outright ban before a shadow one)."""
    if not (email or voter_id or ip_hash):
        return None
    params = {
        "email": email_value(kb, email) if email else None,
        "voter": voter_id or None,
        "ip": ip_hash or None,
        "now": now,
    }
    return conn.execute(_ACTIVE, params).first()


# built once (every post and vote runs it); an identifier the reader has not is NULL, which
# matches nothing
_ACTIVE = (
    sa.select(bans)
    .where(
        sa.or_(
            sa.and_(bans.c.kind == "email", bans.c.value == sa.bindparam("email")),
            sa.and_(bans.c.kind == "voter", bans.c.value == sa.bindparam("voter")),
            sa.and_(bans.c.kind == "ip", bans.c.value == sa.bindparam("ip")),
        ),
        bans.c.lifted_at.is_(None),
        sa.or_(bans.c.expires_at.is_(None), bans.c.expires_at > sa.bindparam("now")),
    )
    .order_by(bans.c.shadow, bans.c.expires_at.is_(None).desc(), bans.c.expires_at.desc())
    .limit(1)
)


def refusal(ban: Any) -> Forbidden:
    until = f" until {ban.expires_at:%B %-d, %Y %H:%M} UTC" if ban.expires_at is not None else ""
    return Forbidden(
        "banned",
        f"You cannot post here: a moderator has blocked comments from you{until}.",
    )


def refuse_if_banned(
    conn: Connection,
    kb: Kibitz,
    *,
    email: str | None,
    voter_id: str | None,
    ip_hash: str | None,
    now: datetime,
) -> Any:
    """Raise for an outright ban; return a shadow ban (or None) for the caller to apply."""
    return refuse(active(conn, kb, email=email, voter_id=voter_id, ip_hash=ip_hash, now=now))


def refuse(ban: Any) -> Any:
    """Raise for an outright ban (a row of ``active``); return a shadow ban, or None."""
    if ban is not None and not ban.shadow:
        raise refusal(ban)
    return ban


@dataclass(frozen=True)
class BanRequest:
    kinds: tuple[str, ...]  # of BAN_KINDS
    reason: str = ""
    days: int | None = None  # None: until lifted
    shadow: bool = False
    comment_id: int | None = None  # take the reader's identifiers from this comment
    email: str | None = None  # or ban this address


async def ban(kb: Kibitz, actor: audit.Actor, request: BanRequest) -> list[int]:
    """Ban a reader by the identifiers chosen; returns the new bans' ids."""
    kinds = [k for k in request.kinds if k in BAN_KINDS]
    if not kinds:
        raise Invalid("required", "Choose what to ban: e-mail, voter cookie or IP.", "kinds")
    if request.days is not None and not 1 <= request.days <= 3650:
        raise Invalid("invalid_days", "A ban lasts 1 to 3650 days, or until lifted.", "days")
    reason = request.reason.strip()[:1000]
    typed = check_email(request.email, "email") if request.email else None
    now = thread_service.now()
    expires = now + timedelta(days=request.days) if request.days else None

    def tx(conn: Connection) -> list[int]:
        source = None
        if request.comment_id is not None:
            source = conn.execute(
                sa.select(comments.c.author_email, comments.c.voter_id, comments.c.ip_hash).where(
                    comments.c.id == request.comment_id
                )
            ).first()
            if source is None:
                raise NotFound("comment_not_found", "There is no such comment.")
        values = {
            "email": email_value(kb, typed)
            if typed
            else (email_value(kb, source.author_email) if source and source.author_email else None),
            "voter": source.voter_id if source else None,
            "ip": source.ip_hash if source else None,
        }
        made = []
        for kind in kinds:
            if not values[kind]:
                continue
            ban_id = conn.execute(
                sa.insert(bans)
                .values(
                    kind=kind,
                    value=values[kind],
                    reason=reason,
                    shadow=request.shadow,
                    comment_id=request.comment_id,
                    created_by=actor.account_id,
                    created_at=now,
                    expires_at=expires,
                )
                .returning(bans.c.id)
            ).scalar_one()
            made.append(ban_id)
            audit.record(
                conn,
                actor,
                "ban",
                f"ban:{ban_id}",
                after={
                    "kind": kind,
                    "reason": reason,
                    "shadow": request.shadow,
                    "expires_at": expires,
                    "comment": request.comment_id,
                },
                now=now,
            )
        if not made:
            raise Invalid(
                "nothing_to_ban",
                "That comment has none of the chosen identifiers (no e-mail address given, "
                "or no voter cookie).",
                "kinds",
            )
        return made

    return await kb.db.write(tx)


async def lift(kb: Kibitz, actor: audit.Actor, ban_id: int) -> None:
    now = thread_service.now()

    def tx(conn: Connection) -> None:
        done = conn.execute(
            sa.update(bans)
            .where(bans.c.id == ban_id, bans.c.lifted_at.is_(None))
            .values(lifted_at=now)
        ).rowcount
        if not done:
            raise NotFound("ban_not_found", "There is no such ban in force.")
        audit.record(conn, actor, "unban", f"ban:{ban_id}", now=now)

    await kb.db.write(tx)


async def listing(kb: Kibitz, *, include_past: bool = False, limit: int = 200) -> list[Any]:
    now = thread_service.now()
    query = sa.select(bans).order_by(bans.c.id.desc()).limit(limit)
    if not include_past:
        query = query.where(
            bans.c.lifted_at.is_(None),
            sa.or_(bans.c.expires_at.is_(None), bans.c.expires_at > now),
        )
    return await kb.db.read(lambda conn: list(conn.execute(query)))
