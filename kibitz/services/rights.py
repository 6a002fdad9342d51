"""Reader rights: download everything kibitz holds about an e-mail address, or erase it.

A reader asks with their address and gets a mail with two signed links (nothing is shown to
whoever typed the address). Moderators can do the same from the dashboard, and the shell
with ``kibitz reader export|erase``.

What belongs to an address: the comments posted with it (and their edit history); the
votes and reports made from the voter cookies those comments were posted from; the
subscriptions and digests of the address; mail waiting or sent about it; the donor of that
address, their gifts and monthly gifts. Erasure deletes all of that, or keeps the comments'
text without anything that identifies their author (``erasure_mode = anonymise``). Bans
stay: they hold only keyed hashes, never the address. Gifts stay in the ledger, which is the
site's bookkeeping: their amounts, dates and payment references are kept, while the donor's
address and name and the message and public name they wrote are taken out.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz import money
from kibitz.context import Kibitz
from kibitz.db import search
from kibitz.db.tables import (
    campaigns,
    comment_edits,
    comments,
    digest_items,
    donors,
    invites,
    ledger,
    outbox,
    recurring_gifts,
    reports,
    subscribers,
    subscriptions,
    threads,
    votes,
)
from kibitz.live import events as live
from kibitz.mail import messages
from kibitz.mail import outbox as outbox_service
from kibitz.services import audit
from kibitz.services import campaigns as campaign_service
from kibitz.services import ledger as ledger_service
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email, email_key
from kibitz.services.comments import change_status
from kibitz.services.errors import Forbidden
from kibitz.services.votes import _apply as apply_vote

LINK_HOURS = 24
c = comments.c


# -- the links in the mail


def link_token(kb: Kibitz, purpose: str, email: str, at: float | None = None) -> str:
    return kb.signer.sign(f"rights-{purpose}", f"{int(at or time.time())}|{email_key(email)}")


def read_token(kb: Kibitz, purpose: str, token: str) -> str:
    """The address a link is for, if the link is genuine and fresh."""
    value = kb.signer.unsign(f"rights-{purpose}", token)
    issued, _, address = (value or "").partition("|")
    if not issued.isdigit() or not address or time.time() - int(issued) > LINK_HOURS * 3600:
        raise Forbidden("invalid_link", "This link is not valid (or has expired).")
    return address


def _holds_anything(conn: Connection, key: str) -> bool:
    by_comment = sa.select(c.id).where(sa.func.lower(c.author_email) == key).limit(1)
    by_subscription = sa.select(subscribers.c.id).where(subscribers.c.email_key == key)
    return (
        conn.execute(by_comment).first() is not None
        or conn.execute(by_subscription).first() is not None
        or _donor(conn, key) is not None
    )


def _donor(conn: Connection, key: str) -> Any:
    return conn.execute(sa.select(donors).where(donors.c.email_key == key)).first()


async def request(kb: Kibitz, email: str) -> None:
    """Mail the address its two links, if kibitz holds anything about it. The caller is
    told the same either way."""
    address = check_email(email, "email", required_message="Give your e-mail address.") or ""
    key = email_key(address)
    now = thread_service.now()
    download = messages._url(kb, "/my-data/export", token=link_token(kb, "export", address))
    erase = messages._url(kb, "/my-data/erase", token=link_token(kb, "erase", address))

    def tx(conn: Connection) -> None:
        if not _holds_anything(conn, key):
            return
        payload = messages.rights(kb, address, download, erase, LINK_HOURS)
        outbox_service.enqueue(
            conn, "mail", f"rights:{key}:{int(now.timestamp())}", payload, at=now
        )

    await kb.db.write(tx)
    kb.wake_worker()


# -- what belongs to an address


def _comment_rows(conn: Connection, key: str) -> list[Any]:
    query = (
        sa.select(comments, threads.c.key.label("thread_key"), threads.c.title, threads.c.url)
        .join(threads, threads.c.id == c.thread_id)
        .where(sa.func.lower(c.author_email) == key)
        .order_by(c.id)
    )
    return list(conn.execute(query))


def _voters(rows: list[Any]) -> list[str]:
    return sorted({r.voter_id for r in rows if r.voter_id})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(amount: int, currency: str) -> str:
    return str(money.to_decimal(amount, currency))


def _donations(conn: Connection, key: str) -> dict[str, Any]:
    """The donor of the address: who they said they were, their gifts as the ledger has
    them, their monthly gifts."""
    donor = _donor(conn, key)
    if donor is None:
        return {"donor": None, "gifts": [], "monthly_gifts": []}
    gifts = conn.execute(
        sa.select(ledger, campaigns.c.slug, campaigns.c.name.label("campaign_name"))
        .join(campaigns, campaigns.c.id == ledger.c.campaign_id)
        .where(ledger.c.donor_id == donor.id)
        .order_by(ledger.c.id)
    )
    monthly = conn.execute(
        sa.select(recurring_gifts, campaigns.c.slug)
        .join(campaigns, campaigns.c.id == recurring_gifts.c.campaign_id)
        .where(recurring_gifts.c.donor_id == donor.id)
        .order_by(recurring_gifts.c.id)
    )
    return {
        "donor": {"email": donor.email, "name": donor.name, "since": _iso(donor.created_at)},
        "gifts": [
            {
                "id": g.id,
                "campaign": g.slug,
                "campaign_name": g.campaign_name,
                "kind": g.kind,
                "amount": _money(g.amount, g.currency),
                "currency": g.currency,
                "date": _iso(g.occurred_at),
                "method": g.method,
                "frequency": g.frequency,
                "shown_as": g.public_name if g.display == "name" else "anonymous",
                "message": g.message,
                "paid_through": g.source,
                "reverses": g.reverses_id,
            }
            for g in gifts
        ],
        "monthly_gifts": [
            {
                "campaign": m.slug,
                "amount": _money(m.amount, m.currency),
                "currency": m.currency,
                "status": m.status,
                "started_at": _iso(m.started_at),
                "ended_at": _iso(m.ended_at),
            }
            for m in monthly
        ],
    }


def audit_target(kb: Kibitz, key: str) -> str:
    """How the audit log names a reader: a keyed hash, never the address (the same address
    gives the same name, so a moderator's download and an erasure can be matched)."""
    return f"reader:{kb.signer.keyed_hash('audit', key)[:16]}"


async def export(kb: Kibitz, email: str, actor: audit.Actor | None = None) -> dict[str, Any]:
    """Everything about the address. ``actor``: a moderator downloads it, which is logged."""
    key = email_key(email)

    def read(conn: Connection) -> dict[str, Any]:
        rows = _comment_rows(conn, key)
        ids = [r.id for r in rows]
        voters = _voters(rows)
        edits: dict[int, list[dict[str, Any]]] = {}
        if ids:
            for e in conn.execute(
                sa.select(comment_edits)
                .where(comment_edits.c.comment_id.in_(ids))
                .order_by(comment_edits.c.id)
            ):
                edits.setdefault(e.comment_id, []).append(
                    {
                        "text_before": e.body_md,
                        "edited_at": _iso(e.created_at),
                        "by": "you" if e.account_id is None else "a moderator",
                    }
                )
        sub = conn.execute(sa.select(subscribers).where(subscribers.c.email_key == key)).first()
        subs = []
        if sub is not None:
            subs = [
                {
                    "kind": s.kind,
                    "thread": s.key,
                    "comment": s.comment_id,
                    "since": _iso(s.created_at),
                }
                for s in conn.execute(
                    sa.select(subscriptions, threads.c.key)
                    .join(threads, threads.c.id == subscriptions.c.thread_id)
                    .where(subscriptions.c.subscriber_id == sub.id)
                    .order_by(subscriptions.c.id)
                )
            ]
        voted = reported = []
        if voters:
            voted = [
                {"comment": v.comment_id, "value": v.value, "at": _iso(v.updated_at)}
                for v in conn.execute(
                    sa.select(votes).where(votes.c.voter_id.in_(voters)).order_by(votes.c.id)
                )
            ]
            reported = [
                {
                    "comment": r.comment_id,
                    "reason": r.reason,
                    "note": r.note,
                    "at": _iso(r.created_at),
                }
                for r in conn.execute(
                    sa.select(reports).where(reports.c.voter_id.in_(voters)).order_by(reports.c.id)
                )
            ]
        return {
            "site": kb.settings.site_name,
            "email": key,
            "exported_at": thread_service.now().isoformat(),
            "about": "Voter ids are the random ids of the cookies your comments were posted "
            "from; IP hashes are keyed hashes of your address, which kibitz never stores. "
            "Amounts of gifts are in the gift's currency.",
            "comments": [
                {
                    "id": r.id,
                    "thread": r.thread_key,
                    "thread_title": r.title,
                    "page": r.url,
                    "reply_to": r.parent_id,
                    "status": r.status,
                    "name": r.author_name,
                    "email": r.author_email,
                    "website": r.author_url,
                    "text": r.body_md,
                    "posted_at": _iso(r.created_at),
                    "edited_at": _iso(r.edited_at),
                    "votes_up": r.up,
                    "votes_down": r.down,
                    "voter_id": r.voter_id,
                    "ip_hash": r.ip_hash,
                    "edits": edits.get(r.id, []),
                }
                for r in rows
            ],
            "votes": voted,
            "reports": reported,
            "subscriptions": {
                "confirmed_at": _iso(sub.confirmed_at) if sub is not None else None,
                "digest": bool(sub.digest) if sub is not None else False,
                "items": subs,
            },
            "donations": _donations(conn, key),
        }

    data: dict[str, Any] = await kb.db.read(read)
    if actor is not None:
        counts = {
            "comments": len(data["comments"]),
            "gifts": len(data["donations"]["gifts"]),
        }
        await kb.db.write(
            lambda conn: audit.record(
                conn, actor, "export_reader", audit_target(kb, key), after=counts
            )
        )
    return data


@dataclass
class Erased:
    comments: int = 0
    deleted: int = 0
    anonymised: int = 0
    votes: int = 0
    reports: int = 0
    subscriptions: int = 0
    mails: int = 0
    # gifts whose donor (address, name) and words (message, public name) were taken out
    gifts: int = 0


def _delete_leaves(conn: Connection, ids: set[int]) -> int:
    """Delete the emptied comments that no other comment points at (repeatedly: a chain of
    them goes from the bottom up). The rest stay as empty placeholders for their replies."""
    gone = 0
    while ids:
        with_children = {
            r[0]
            for r in conn.execute(
                sa.select(c.parent_id)
                .where(c.parent_id.in_(ids))
                .union(sa.select(c.root_id).where(c.root_id.in_(ids)))
            )
        }
        leaves = ids - with_children
        if not leaves:
            break
        gone += conn.execute(sa.delete(comments).where(c.id.in_(leaves))).rowcount
        ids -= leaves
    return gone


def _forget_mail(conn: Connection, key: str, ids: list[int]) -> int:
    """Mail to the address, and mail that quoted its comments (notifications, digests,
    moderator alerts), sent or not."""
    about = [sa.func.lower(outbox.c.payload).contains(key, autoescape=True)]
    for i in ids:
        # the comment's link, as JSON keeps it: followed by \\n in the text, \\" in the HTML
        about.append(outbox.c.payload.contains(f"#kibitz-comment-{i}\\", autoescape=True))
        for prefix in ("moderate", "reported", "edited"):
            about.append(outbox.c.idempotency_key.startswith(f"{prefix}:{i}:", autoescape=True))
    n = 0
    for chunk in range(0, len(about), 200):
        n += conn.execute(sa.delete(outbox).where(sa.or_(*about[chunk : chunk + 200]))).rowcount
    return n


async def erase(kb: Kibitz, email: str, actor: audit.Actor) -> Erased:
    key = email_key(email)
    now = thread_service.now()
    mode = kb.settings.erasure_mode

    campaign_ids: set[int] = set()

    def tx(conn: Connection) -> tuple[Erased, set[str]]:
        if conn.dialect.name == "sqlite":
            # overwrite what is deleted, instead of leaving it in free pages of the file
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        out, keys = Erased(), set()
        rows = _comment_rows(conn, key)
        ids = [r.id for r in rows]
        voters = _voters(rows)
        out.comments = len(rows)
        if ids:
            conn.execute(sa.delete(comment_edits).where(comment_edits.c.comment_id.in_(ids)))
        live.forget(conn, {r.thread_id for r in rows})
        identity = {
            "author_email": None,
            "author_url": None,
            "voter_id": None,
            "ip_hash": None,
            "edit_token_hash": None,
        }
        for row in rows:
            keys.add(row.thread_key)
            if mode == "anonymise":
                conn.execute(
                    sa.update(comments)
                    .where(c.id == row.id)
                    .values(author_name=kb.settings.guest_name, **identity)
                )
                thread_service.bump(conn, row.thread_id)
                out.anonymised += 1
                continue
            fresh = conn.execute(sa.select(comments).where(c.id == row.id)).one()
            change_status(
                conn,
                kb,
                fresh,
                "deleted",
                key=row.thread_key,
                now=now,
                author_name="",
                body_md="",
                body_html="",
                body_hash=None,
                held_for=None,
                offensive=None,
                deleted_at=fresh.deleted_at or now,
                pinned_at=None,
                featured=False,
                **identity,
            )
        if mode == "delete":
            out.deleted = _delete_leaves(conn, set(ids))
        if voters:
            for vote in list(conn.execute(sa.select(votes).where(votes.c.voter_id.in_(voters)))):
                target = conn.execute(sa.select(comments).where(c.id == vote.comment_id)).one()
                apply_vote(conn, target, vote.voter_id, 0)
                keys.add(thread_service.key_of(conn, target.thread_id))
                out.votes += 1
            out.reports = conn.execute(
                sa.delete(reports).where(reports.c.voter_id.in_(voters))
            ).rowcount
        sub = conn.execute(sa.select(subscribers.c.id).where(subscribers.c.email_key == key))
        sub_id = sub.scalar_one_or_none()
        if sub_id is not None:
            out.subscriptions = conn.execute(
                sa.delete(subscriptions).where(subscriptions.c.subscriber_id == sub_id)
            ).rowcount
            conn.execute(sa.delete(digest_items).where(digest_items.c.subscriber_id == sub_id))
            conn.execute(sa.delete(subscribers).where(subscribers.c.id == sub_id))
        conn.execute(
            sa.delete(invites).where(
                sa.func.lower(invites.c.email) == key, invites.c.used_at.is_(None)
            )
        )
        donor = _donor(conn, key)
        if donor is not None:
            gifts = ledger_service.redact_donor(conn, donor.id)
            out.gifts = len(gifts)
            # the dashboard's log of a gift recorded by hand keeps its amounts, not the name
            audit.forget_fields(conn, [f"ledger:{i}" for i, _ in gifts], ("public_name",))
            campaign_ids.update(c for _, c in gifts)
        out.mails = _forget_mail(conn, key, ids)
        audit.redact(conn, [f"comment:{i}" for i in ids])
        audit.record(
            conn,
            actor,
            "erase",
            audit_target(kb, key),
            after=asdict(out),
            now=now,
        )
        search.purge(conn)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = OFF")
        return out, keys

    result, keys = await kb.db.write(tx)
    for k in keys:
        kb.cache.invalidate(k)
    if campaign_ids:  # supporter walls named the donor
        slugs = await kb.db.read(
            lambda conn: (
                conn.execute(sa.select(campaigns.c.slug).where(campaigns.c.id.in_(campaign_ids)))
                .scalars()
                .all()
            )
        )
        for slug in slugs:
            campaign_service.invalidate(kb, slug)
    return result
