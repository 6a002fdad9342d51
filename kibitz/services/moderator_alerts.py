"""Mail to moderators about new comments, with links to act on held ones.

A link is signed and expires; it opens a page whose button POSTs the decision. It is
single-use by construction: it names the hold it was made for (the comment's status version,
one more at every change of status), so it does nothing once the comment has left that hold,
even if the comment is held again later (that hold mails links of its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.mail import messages, outbox
from kibitz.services.errors import Forbidden

ACTIONS = ("approve", "reject")
LINK_MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True)
class Link:
    comment_id: int
    action: str
    version: int  # the comment's status version when it was held


def action_token(kb: Kibitz, comment_id: int, action: str, version: int) -> str:
    return kb.signer.sign("moderate", f"{comment_id}:{action}:{int(time.time())}:{version}")


def read_token(kb: Kibitz, token: str) -> Link:
    value = kb.signer.unsign("moderate", token)
    parts = value.split(":") if value else []
    if (
        len(parts) != 4
        or parts[1] not in ACTIONS
        or not (parts[2].isdigit() and parts[3].isdigit())
        or time.time() - int(parts[2]) > LINK_MAX_AGE
    ):
        raise Forbidden("invalid_link", "This link is not valid (or has expired).")
    return Link(int(parts[0]), parts[1], int(parts[3]))


def tell_moderators(
    conn: Connection, kb: Kibitz, row: Any, thread_key: str, *, why: str = "moderate"
) -> None:
    """In the comment's transaction: mail each moderator about it (held, or any if asked).
    ``why`` names the occasion (a new comment, ``reported``, ``edited``): each is mailed once."""
    held = row.status == "pending"
    if not kb.settings.moderator_emails or not (held or kb.settings.moderator_mail_all):
        return
    links = {
        a: messages._url(kb, "/moderate", token=action_token(kb, row.id, a, row.status_version))
        for a in ACTIONS
    }
    dashboard = f"{kb.settings.public_url.rstrip('/')}/admin/comments/{row.id}"
    for address in kb.settings.moderator_emails:
        payload = messages.moderation(
            kb, email=address, held=held, author=row.author_name, body_md=row.body_md,
            thread=thread_key, approve=links["approve"] if held else None,
            reject=links["reject"] if held else None, dashboard=dashboard,
            occasion=None if why == "moderate" else why,
        )  # fmt: skip
        outbox.enqueue(conn, "mail", f"{why}:{row.id}:{address}", payload, at=row.created_at)
