"""What every source parser produces: threads, comments and the items it had to skip."""

from __future__ import annotations

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


def from_timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def parse_iso(value: str) -> datetime:
    """ISO 8601 / RFC 3339, with any number of fraction digits; naive means UTC."""
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
    return parsed.astimezone(UTC)


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")
