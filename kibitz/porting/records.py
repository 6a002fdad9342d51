"""What every source parser produces: threads, comments and the items it had to skip."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from msgspec import Struct, field

Status = Literal["approved", "pending", "spam", "rejected", "deleted"]
# how a body is written in the source: HTML (Disqus), WordPress's HTML with line breaks,
# Markdown (Isso, Remark42's original text, Commento)
BodyFormat = Literal["html", "wordpress", "markdown"]


class SourceThread(Struct, kw_only=True):
    id: str
    url: str = ""
    # the source's own page identifier (Disqus identifier, Isso URI, Commento path)
    identifier: str = ""
    title: str = ""
    closed: bool = False
    deleted: bool = False
    created_at: datetime | None = None


class SourceComment(Struct, kw_only=True):
    id: str
    thread: str
    parent: str | None
    body: str
    body_format: BodyFormat
    created_at: datetime
    status: Status = "approved"
    author_name: str = ""
    author_email: str = ""
    author_url: str = ""
    ip: str = ""
    edited_at: datetime | None = None
    up: int = 0
    down: int = 0
    # what kibitz has no column for, kept with the import record (wpDiscuz sticky, ...)
    meta: dict[str, Any] = field(default_factory=dict)
    # where it was in the file, for reports
    where: str = ""


class Skip(Struct, kw_only=True):
    """An item that is not imported, and why (shown to the publisher)."""

    kind: Literal["thread", "comment", "record"]
    id: str
    reason: str
    where: str = ""


class Notice(Struct, kw_only=True):
    """Something imported with a change, or a source feature kibitz does not represent;
    counted per message in the report."""

    message: str


Record = SourceThread | SourceComment | Skip | Notice


class ImportFailed(Exception):
    """The file cannot be imported at all (not this format, not well-formed); nothing is
    written."""


class BadField(ValueError):
    """A field of the wrong type (an object where text belongs, words for a number)."""

    def __init__(self, name: str, expected: str, value: Any) -> None:
        super().__init__(f"{name} is {_kind(value)}, not {expected}")
        self.name = name


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, bytes):
        return "binary data"
    return repr(value)[:40]


# The largest vote count kept: what a 32-bit column holds (PostgreSQL's INTEGER)
MAX_COUNT = 2**31 - 1


def as_text(value: Any, name: str) -> str:
    """A text field: absent is empty, a number is written out, anything else is refused."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise BadField(name, "text", value)


def as_number(value: Any, name: str) -> int:
    """A whole number (a vote count or score): absent is 0, an integral float or the digits
    of one are taken, anything else is refused; kept within ``MAX_COUNT`` either way."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        digits = value.strip()
        n = int(digits) if len(digits) < 12 else (-MAX_COUNT if digits[0] == "-" else MAX_COUNT)
    else:
        raise BadField(name, "a number", value)
    return max(-MAX_COUNT, min(n, MAX_COUNT))


def as_object(value: Any, name: str) -> dict[str, Any]:
    """An object field: absent is empty, anything but an object is refused."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    raise BadField(name, "an object", value)


def guarded(
    kind: Literal["thread", "comment", "record"],
    ident: Any,
    where: str,
    convert: Callable[..., Record | Iterable[Record]],
    *args: Any,
) -> list[Record]:
    """What ``convert(*args)`` makes of one item (``ident``, at ``where`` in the file), or, if
    the item trips it up, a Skip that says which field and why: one bad item never stops the
    import. ImportFailed (the whole file is not this format) goes through."""
    try:
        made = convert(*args)
        return [made] if isinstance(made, Struct) else list(made)
    except ImportFailed:
        raise
    except BadField as exc:
        reason = str(exc)
    except Exception as exc:  # any other surprise in one item is that item's alone
        reason = f"could not be read ({type(exc).__name__}: {exc})"
    shown = ident if isinstance(ident, str | int) and not isinstance(ident, bool) else ""
    return [Skip(kind=kind, id=str(shown)[:255], reason=reason, where=where)]


def from_timestamp(value: float) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"time out of range: {value!r}") from exc


def parse_iso(value: str) -> datetime:
    """ISO 8601 / RFC 3339, with any number of fraction digits; naive means UTC. A time out of
    range (before year 1 or after 9999 in UTC) is a ValueError like any other bad time."""
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:digits][:6].ljust(6, "0") + rest[digits:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"time out of range: {value!r}") from exc


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")
