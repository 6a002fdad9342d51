"""A thread's own moderation policy: the site's settings, overridden for one thread.

A sensitive story may want fewer links, more block words or a lower offensive threshold than
the rest of the site; a thread that draws brigades may want reports to hold a comment
sooner. A thread keeps only what it changes, as JSON in ``threads.policy`` (NULL: nothing),
checked by ``ThreadPolicy``; the checks read the *effective* settings: the site's, with the
thread's values in place of the site's, and its block words and domains added to the site's.
(The pre-moderation mode has its own column, ``threads.moderation``, older than this.)
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from msgspec import Meta
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import threads
from kibitz.services import audit
from kibitz.services import threads as thread_service
from kibitz.services.errors import Invalid, NotFound
from kibitz.settings import Settings

log = logging.getLogger("kibitz.moderation")

MAX_ITEMS = 100
MAX_ITEM_CHARS = 100
Word = Annotated[str, Meta(min_length=1, max_length=MAX_ITEM_CHARS)]
Domain = Annotated[str, Meta(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", max_length=MAX_ITEM_CHARS)]


class ThreadPolicy(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """What a thread changes of the site's moderation settings (None, []: nothing)."""

    max_links: Annotated[int, Meta(ge=0, le=1000)] | None = None
    block_words: Annotated[list[Word], Meta(max_length=MAX_ITEMS)] = []
    block_domains: Annotated[list[Domain], Meta(max_length=MAX_ITEMS)] = []
    offensive_threshold: Annotated[int, Meta(ge=0, le=100)] | None = None
    reports_to_hold: Annotated[int, Meta(ge=1, le=1000)] | None = None
    min_fill_seconds: Annotated[int, Meta(ge=0, le=3600)] | None = None


# each name, the setting it overrides (lists: adds to), and what it means, for forms and --help
POLICIES: dict[str, tuple[str, str]] = {
    "max_links": ("moderation_max_links", "hold comments with more links than this"),
    "block_words": ("moderation_block_words", "more words or phrases to hold comments for"),
    "block_domains": ("moderation_block_domains", "more domains to hold links to"),
    "offensive_threshold": (
        "moderation_offensive_threshold",
        "hold comments whose offensive-language score (0-100) is above this",
    ),
    "reports_to_hold": (
        "moderation_reports_to_hold",
        "reports from different readers that hold a published comment",
    ),
    "min_fill_seconds": (
        "moderation_min_fill_seconds",
        "a comment sent sooner after its form was shown is taken for spam",
    ),
}
LISTS = ("block_words", "block_domains")
_BOUNDS = {"max_links": (0, 1000), "offensive_threshold": (0, 100),
           "reports_to_hold": (1, 1000), "min_fill_seconds": (0, 3600)}  # fmt: skip
_SPLIT = re.compile(r"[,\n]")


def load(text: str | None) -> ThreadPolicy:
    """The stored policy; a damaged one (a hand-edited database) counts as none, loudly."""
    if not text:
        return ThreadPolicy()
    try:
        return msgspec.json.decode(text, type=ThreadPolicy)
    except msgspec.ValidationError as exc:
        log.warning("a thread's policy is not valid and is ignored: %s", exc)
        return ThreadPolicy()


def dump(policy: ThreadPolicy) -> str | None:
    return None if policy == ThreadPolicy() else msgspec.json.encode(policy).decode()


def as_dict(policy: ThreadPolicy) -> dict[str, Any]:
    """Only what the thread changes."""
    data: dict[str, Any] = msgspec.to_builtins(policy)
    return data


def effective(settings: Settings, policy: ThreadPolicy) -> Settings:
    """The site's settings as the checks of this thread see them."""
    changes: dict[str, Any] = {}
    for name, (setting, _) in POLICIES.items():
        value = getattr(policy, name)
        if name in LISTS:
            if value:
                changes[setting] = [*getattr(settings, setting), *value]
        elif value is not None:
            changes[setting] = value
    return dataclasses.replace(settings, **changes) if changes else settings


def settings_for(conn: Connection, settings: Settings, key: str) -> Settings:
    """The effective settings of the thread with this key (the site's if it has none yet)."""
    stored = conn.execute(_POLICY_BY_KEY, {"k": key}).scalar()
    return effective(settings, load(stored))


_POLICY_BY_KEY = sa.select(threads.c.policy).where(threads.c.key == sa.bindparam("k"))


def settings_by_id(conn: Connection, settings: Settings, thread_id: int) -> Settings:
    stored = conn.execute(sa.select(threads.c.policy).where(threads.c.id == thread_id)).scalar()
    return effective(settings, load(stored))


def _value(name: str, raw: str) -> Any:
    """A value as typed in a form or on the command line."""
    if name in LISTS:
        items = [" ".join(part.split()) for part in _SPLIT.split(raw)]
        if name == "block_domains":
            items = [i.lower().removeprefix("www.") for i in items]
        return [i for i in items if i]
    lowest, highest = _BOUNDS[name]
    text = raw.strip()
    if not re.fullmatch(r"-?\d+", text) or not lowest <= int(text) <= highest:
        raise Invalid(
            "invalid_policy", f"{name} is a whole number from {lowest} to {highest}.", name
        )
    return int(text)


def changed(policy: ThreadPolicy, values: dict[str, str], clear: list[str]) -> ThreadPolicy:
    """The policy with these values set (as typed) and these names back to the site's."""
    for name in [*values, *clear]:
        if name not in POLICIES:
            raise Invalid(
                "unknown_policy",
                f"There is no policy called {name!r}; a thread can change {', '.join(POLICIES)}.",
                name,
            )
    data = as_dict(policy)
    for name, raw in values.items():
        data[name] = _value(name, raw)
    for name in clear:
        data.pop(name, None)
    try:
        return msgspec.convert(data, ThreadPolicy)
    except msgspec.ValidationError as exc:
        field = next((n for n in POLICIES if f"$.{n}" in str(exc)), None)
        what = {
            "block_words": f"Each blocked word or phrase has 1 to {MAX_ITEM_CHARS} characters, "
            f"and a thread adds at most {MAX_ITEMS}.",
            "block_domains": "Blocked domains are names like spam.example (letters, digits, "
            f"dots and hyphens), at most {MAX_ITEMS}.",
        }.get(field or "", f"That policy is not valid: {exc}.")
        raise Invalid("invalid_policy", what, field) from None


async def get(kb: Kibitz, key: str) -> tuple[ThreadPolicy, Settings]:
    """A thread's own policy and the settings its checks use."""

    def read(conn: Connection) -> ThreadPolicy:
        row = thread_service.get_row(conn, key)
        if row is None:
            raise NotFound("thread_not_found", f"No thread with key {key!r}.", "thread")
        return load(row.policy)

    policy = await kb.db.read(read)
    return policy, effective(kb.settings, policy)


async def update(
    kb: Kibitz,
    actor: audit.Actor,
    key: str,
    *,
    values: dict[str, str] | None = None,
    clear: list[str] | None = None,
) -> ThreadPolicy:
    """Set some of a thread's policies (as typed) and put others back to the site's; the
    change is in the audit log, with the thread's policy before and after."""
    now = thread_service.now()

    def tx(conn: Connection) -> ThreadPolicy:
        row = thread_service.get_row(conn, key)
        if row is None:
            raise NotFound("thread_not_found", f"No thread with key {key!r}.", "thread")
        before = load(row.policy)
        after = changed(before, values or {}, clear or [])
        if after != before:
            conn.execute(
                sa.update(threads).where(threads.c.id == row.id).values(policy=dump(after))
            )
            audit.record(
                conn, actor, "thread_policy", f"thread:{key}",
                before={"policy": as_dict(before)}, after={"policy": as_dict(after)}, now=now,
            )  # fmt: skip
        return after

    result: ThreadPolicy = await kb.db.write(tx)
    return result
