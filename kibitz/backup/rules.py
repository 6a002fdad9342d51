"""What the archive holds of each table, decided table by table.

Every table in ``kibitz.db.tables.metadata`` must appear here, either exported (all columns
but the ones omitted, each with its reason) or excluded with a reason; ``kibitz export``
refuses to run otherwise, and tests/test_backup_rules.py fails, so a new table cannot be
left out, or put in, by accident. Columns whose names look like secrets (hashes, tokens,
passwords, sessions) must be omitted or kept with a reason too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SENSITIVE = re.compile(r"(_hash$|token|secret|password|passwd|session|salt)")


@dataclass(frozen=True)
class Export:
    # column -> why it is left out (it must be nullable or have a default, to restore)
    omit: Mapping[str, str] = field(default_factory=dict)
    # a column whose name looks secret -> why it is kept all the same
    keep: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Exclude:
    reason: str


RULES: dict[str, Export | Exclude] = {
    # every column, including the thread's own pre-moderation mode and moderation policy
    # (``moderation``, ``policy``): a restored thread is moderated as before
    "threads": Export(),
    "comments": Export(
        omit={
            "edit_token_hash": "lets the author edit for 15 minutes after posting; a restored "
            "site starts without open edit windows rather than carrying credentials",
        },
        keep={
            "ip_hash": "a keyed hash, never an address; moderation counts and bans by it "
            "(it matches new comments only if the restored site keeps the same secret key)",
            "body_hash": "a digest of the text that the repeat check compares, not a secret",
        },
    ),
    "votes": Export(),
    "api_tokens": Exclude(
        "credentials of the site's developer: after a restore, make new ones with "
        "`kibitz token create`"
    ),
    "articles": Export(),
    "subscribers": Export(),
    "subscriptions": Export(),
    "digest_items": Export(),
    "outbox": Exclude(
        "a work queue, not content: sent rows are history, and queued ones would be sent a "
        "second time by the restored site"
    ),
    "import_records": Export(),
    # -- inline feedback
    "passages": Export(
        keep={"text_hash": "a digest of the article's text the anchor was made on, not a secret"}
    ),
    # -- live updates
    "events": Exclude(
        "a short-lived log that open streams replay; a restored site starts with none, and "
        "a browser that resumes from before the restore reloads the thread"
    ),
    # -- moderation
    "accounts": Export(
        keep={
            "password_hash": "argon2 hashes, so that moderators log in to the restored site "
            "with their own passwords; the archive must be kept as safe as the database",
            "totp_secret": "moderators who turned on a second factor keep it; leaving it out "
            "would silently switch their second factor off",
        },
    ),
    "admin_sessions": Exclude("log-in sessions: moderators log in again on the restored site"),
    "invites": Exclude(
        "pending invitations are one-time credentials; invite again on the restored site"
    ),
    "bans": Export(),
    "reports": Export(
        keep={"ip_hash": "a keyed hash, never an address; reports are counted per address"}
    ),
    "comment_edits": Export(),
    "audit_log": Export(),
    # -- reader funding
    "campaigns": Export(),
    "campaign_goals": Export(),
    "donors": Export(),
    "ledger_entries": Export(),
    "campaign_totals": Export(),
    "payment_sessions": Export(
        keep={
            "session_id": "the payment provider's id of a checkout, needed to match its "
            "webhook; not a credential",
            "ip_hash": "a keyed hash, never an address; card-testing limits count by it",
        },
    ),
    "recurring_gifts": Export(),
    "provider_payments": Export(),
    "provider_events": Export(),
    # -- the dashboard
    "import_jobs": Exclude(
        "the progress of uploads into this server, with paths of its own disk; who imported "
        "what is in the audit log"
    ),
}
