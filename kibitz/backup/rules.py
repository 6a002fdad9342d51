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
    "threads": Export(),
    "comments": Export(
        omit={
            "edit_token_hash": "lets the author edit for 15 minutes after posting; a restored "
            "site starts without open edit windows rather than carrying credentials",
        },
        keep={
            "ip_hash": "a keyed hash, never an address; moderation counts and bans by it "
            "(it matches new comments only if the restored site keeps the same secret key)",
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
}
