"""What happens to a new comment: published, held for a moderator, or kept as spam.

In order: an outright ban refuses it; a shadow ban or any spam finding (honeypot, a form sent
too fast, a plugin's verdict) keeps it as spam; pre-moderation (the thread's mode, else the
site's), any hold finding (links, block lists, offensive language, a plugin) or a repeat of a
recent comment holds it; else it is published. Trust only skips pre-moderation: a trusted
commenter's comment with five links is held all the same. The content checks see the site's
settings with the thread's own policy over them (``kibitz.services.thread_policy``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import MODERATION_MODES, comments
from kibitz.models import Reader
from kibitz.plugins import Finding
from kibitz.services import bans
from kibitz.services.errors import Invalid

# a repeat by anyone counts from this length (short replies like "Thank you!" repeat often)
REPEAT_MIN_CHARS = 40
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


# -- the form token: when the form was shown, signed, for the minimum fill time


def form_token(kb: Kibitz, at: float | None = None) -> str:
    return kb.signer.sign("form", f"{at if at is not None else time.time():.3f}")


def form_age(kb: Kibitz, token: str | None, now: float | None = None) -> tuple[float | None, bool]:
    """Seconds since the form was shown, and whether the token is genuine (no token: None)."""
    if not token:
        return None, True
    value = kb.signer.unsign("form", token)
    try:
        issued = float(value) if value is not None else None
    except ValueError:
        issued = None
    if issued is None:
        return None, False
    return (now if now is not None else time.time()) - issued, True


# -- repeats


def normalise(body: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", body.lower()).split())


def body_hash(body: str) -> str | None:
    text = normalise(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


def repeats(
    conn: Connection,
    kb: Kibitz,
    digest: str | None,
    length: int,
    who: Reader,
    email: str | None,
    now: datetime,
) -> bool:
    window = kb.settings.moderation_repeat_seconds
    if digest is None or window == 0:
        return False
    query = sa.select(comments.c.id).where(
        comments.c.body_hash == digest,
        comments.c.created_at >= now - timedelta(seconds=window),
    )
    if length < REPEAT_MIN_CHARS:
        # not by address: readers behind one address (an office) say "Thanks!" too
        same = [comments.c.voter_id == who.voter_id] if who.voter_id else []
        if email:
            same.append(sa.func.lower(comments.c.author_email) == email.strip().lower())
        if not same:
            return False
        query = query.where(sa.or_(*same))
    return conn.execute(query.limit(1)).first() is not None


# -- pre-moderation and trust


def check_mode(mode: str | None) -> str | None:
    if mode in (None, "", "default"):
        return None
    if mode not in MODERATION_MODES:
        raise Invalid(
            "invalid_mode", f"Pre-moderation is one of {', '.join(MODERATION_MODES)}.", "moderation"
        )
    return mode


def mode_of(kb: Kibitz, thread: Any) -> str:
    own: str | None = getattr(thread, "moderation", None)
    return own if own in MODERATION_MODES else kb.settings.premoderation


def trusted(conn: Connection, kb: Kibitz, voter_id: str | None) -> bool:
    if voter_id is None:
        return False
    need = kb.settings.moderation_trust_after
    approved = sa.select(comments.c.id).where(
        comments.c.voter_id == voter_id, comments.c.status == "approved"
    )
    found = conn.execute(sa.select(sa.func.count()).select_from(approved.limit(need).subquery()))
    return int(found.scalar_one()) >= need


# -- the verdict


@dataclass
class Verdict:
    status: str  # what is stored: approved, pending or spam
    findings: list[Finding] = field(default_factory=list)
    shown_as: str = ""  # what the poster is told (a shadow ban looks published)

    @property
    def held_for(self) -> str | None:
        if not self.findings:
            return None
        return json.dumps([{"code": f.code, "note": f.note} for f in self.findings])


def decide(
    conn: Connection,
    kb: Kibitz,
    *,
    thread: Any,
    who: Reader,
    email: str | None,
    findings: list[Finding],
    digest: str | None,
    length: int,
    now: datetime,
    ban: Any,
) -> Verdict:
    """In the comment's transaction: raise for a banned reader, else the comment's status.
    ``ban`` is the reader's ban (``bans.active``), looked up before the transaction: the
    writers of the whole site queue behind it."""
    if bans.refuse(ban) is not None:
        return Verdict(
            "spam", [Finding("shadow_ban", "spam", f"ban {ban.id}"), *findings], "approved"
        )
    if any(f.action == "spam" for f in findings):
        return Verdict("spam", findings, "pending")
    held = list(findings)
    mode = mode_of(kb, thread)
    if mode == "everyone":
        held.insert(0, Finding("premoderation", "hold", "every comment is held"))
    elif mode == "first-time" and not trusted(conn, kb, who.voter_id):
        need = kb.settings.moderation_trust_after
        held.insert(0, Finding("first_time", "hold", f"fewer than {need} approved comments"))
    if repeats(conn, kb, digest, length, who, email, now):
        held.append(Finding("repeat", "hold", "repeats a recent comment"))
    if held:
        return Verdict("pending", held, "pending")
    return Verdict("approved", [], "approved")


def reasons(held_for: str | None) -> list[dict[str, str]]:
    """The stored findings of a comment, for the dashboard."""
    if not held_for:
        return []
    try:
        parsed = json.loads(held_for)
    except ValueError:
        return []
    return [p for p in parsed if isinstance(p, dict)]
