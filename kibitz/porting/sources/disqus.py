"""Disqus XML export (Admin > Community > Export): <thread> elements for pages, then <post>
elements for comments, each pointing at its thread and parent by ``dsq:id``. Messages are
HTML. Spam and deleted posts are included, flagged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element

from kibitz.porting.records import (
    ImportFailed,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    Status,
    guarded,
    parse_iso,
    truthy,
)
from kibitz.porting.sources.xmlstream import child, child_text, elements, local

DSQ_ID = "{http://disqus.com/disqus-internals}id"


def _ref(elem: Element | None) -> str:
    return "" if elem is None else (elem.get(DSQ_ID) or "").strip()


def _thread(elem: Element) -> SourceThread | Skip:
    dsq_id = _ref(elem)
    if not dsq_id:
        return Skip(kind="thread", id=child_text(elem, "link"), reason="thread without dsq:id")
    try:
        created = parse_iso(child_text(elem, "createdAt"))
    except ValueError:  # only a fallback for the thread's date: its first comment's is used
        created = None
    return SourceThread(
        id=dsq_id,
        url=child_text(elem, "link"),
        identifier=child_text(elem, "id"),
        title=child_text(elem, "title"),
        closed=truthy(child_text(elem, "isClosed")),
        deleted=truthy(child_text(elem, "isDeleted")),
        created_at=created,
    )


def _post(elem: Element, n: int) -> SourceComment | Skip:
    where = f"post #{n}"
    dsq_id = _ref(elem) or child_text(elem, "id")
    if not dsq_id:
        return Skip(kind="comment", id="", reason="post without an id", where=where)
    thread = _ref(child(elem, "thread"))
    if not thread:
        return Skip(kind="comment", id=dsq_id, reason="post without a thread", where=where)
    try:
        created = parse_iso(child_text(elem, "createdAt"))
    except ValueError:
        return Skip(kind="comment", id=dsq_id, reason="missing or bad createdAt", where=where)
    author = child(elem, "author")
    status: Status
    if truthy(child_text(elem, "isSpam")):
        status = "spam"
    elif truthy(child_text(elem, "isDeleted")):
        status = "deleted"
    elif child(elem, "isApproved") is not None and not truthy(child_text(elem, "isApproved")):
        status = "pending"
    else:
        status = "approved"
    message = child(elem, "message")
    return SourceComment(
        id=dsq_id,
        thread=thread,
        parent=_ref(child(elem, "parent")) or None,
        body="".join(message.itertext()) if message is not None else "",
        body_format="html",
        created_at=created,
        status=status,
        author_name=child_text(author, "name") if author is not None else "",
        author_email=child_text(author, "email") if author is not None else "",
        ip=child_text(elem, "ipAddress"),
        where=where,
    )


def parse(file: IO[bytes]) -> Iterator[Record]:
    posts = 0
    seen_root = False
    for elem in elements(file, 1, "Disqus XML"):
        name = local(elem.tag)
        if name == "thread":
            seen_root = True
            yield from guarded("thread", _ref(elem), "thread", _thread, elem)
        elif name == "post":
            seen_root = True
            posts += 1
            where = f"post #{posts}"
            yield from guarded("comment", _ref(elem), where, _post, elem, posts)
    if not seen_root:
        raise ImportFailed("This is not a Disqus export: it has no <thread> and no <post>.")
