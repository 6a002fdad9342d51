"""WordPress eXtended RSS (Tools > Export): one <item> per post or page, its comments inside
as <wp:comment>, with the meta that plugins write (wpDiscuz: votes, closed, inline feedback).

Comment bodies are WordPress's HTML, in which blank lines make paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, Literal
from xml.etree.ElementTree import Element

from kibitz.porting.records import (
    BadField,
    ImportFailed,
    Notice,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    Status,
    as_number,
    guarded,
    parse_iso,
)
from kibitz.porting.sources.xmlstream import child_text, elements, local

Pingbacks = Literal["skip", "keep"]
READER_TYPES = {"", "comment", "review", "wpdiscuz_sticky"}
STATUSES: dict[str, Status] = {
    "1": "approved",
    "approve": "approved",
    "0": "pending",
    "hold": "pending",
    "spam": "spam",
    "trash": "rejected",
    "post-trashed": "rejected",
}
_PHP_VOTE = re.compile(r's:\d+:"(like|dislike)";i:(-?\d+);')


def _date(comment: Element) -> datetime | None:
    for name in ("comment_date_gmt", "comment_date"):
        value = child_text(comment, name)
        if value and not value.startswith("0000"):
            try:
                return parse_iso(value)
            except ValueError:
                continue
    return None


def _meta(comment: Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in comment:
        if local(c.tag) == "commentmeta":
            key = child_text(c, "meta_key")
            if key:
                out[key] = child_text(c, "meta_value")
    return out


def votes(meta: dict[str, str]) -> tuple[int, int]:
    """wpDiscuz keeps likes and dislikes apart (a serialised PHP array) and their difference;
    with only the difference, it counts as that many likes (or dislikes)."""
    separate = dict(_PHP_VOTE.findall(meta.get("wpdiscuz_votes_seperate", "")))
    if separate:
        like = as_number(separate.get("like"), "like")
        return max(like, 0), max(as_number(separate.get("dislike"), "dislike"), 0)
    try:
        net = as_number(meta.get("wpdiscuz_votes"), "wpdiscuz_votes")
    except BadField:
        return 0, 0
    return max(net, 0), max(-net, 0)


def _comment(c: Element, thread: str, pingbacks: Pingbacks) -> Iterator[Record]:
    cid = child_text(c, "comment_id")
    where = f"comment {cid or '?'} of post {thread}"
    if not cid:
        yield Skip(kind="comment", id="", reason="comment without comment_id", where=where)
        return
    ctype = child_text(c, "comment_type").lower()
    if ctype in ("pingback", "trackback"):
        if pingbacks == "skip":
            yield Notice(message=f"{ctype}s skipped (--pingbacks keep imports them)")
            return
    elif ctype == "private":
        yield Skip(
            kind="comment",
            id=cid,
            where=where,
            reason="wpDiscuz private comment (kibitz has no private comments)",
        )
        return
    elif ctype not in READER_TYPES:
        yield Skip(
            kind="comment", id=cid, reason=f"not a reader comment (type {ctype})", where=where
        )
        return
    created = _date(c)
    if created is None:
        yield Skip(kind="comment", id=cid, reason="missing or bad comment date", where=where)
        return
    approved = child_text(c, "comment_approved").lower()
    status = STATUSES.get(approved)
    if status is None:
        yield Skip(kind="comment", id=cid, reason=f"unknown status {approved!r}", where=where)
        return
    meta = _meta(c)
    up, down = votes(meta)
    extra: dict[str, Any] = {}
    if ctype == "wpdiscuz_sticky":
        extra["sticky"] = True
        yield Notice(
            message="wpDiscuz sticky comments imported pinned "
            "(also marked sticky in import_records.meta)"
        )
    if ctype in ("pingback", "trackback"):
        extra["type"] = ctype
    if meta.get("wpdiscuz_closed", "") not in ("", "0"):
        extra["closed"] = True
        yield Notice(
            message="wpDiscuz closed comments imported closed to replies "
            "(also marked closed in import_records.meta)"
        )
    form = meta.get("wpdiscuz_feedback_form_id", "")
    if form not in ("", "0"):
        extra["feedback_form_id"] = form
        yield Notice(
            message="wpDiscuz inline-feedback comments imported as ordinary comments: the "
            "passage is not in the export (form id in import_records.meta)"
        )
    parent = child_text(c, "comment_parent")
    yield SourceComment(
        id=cid,
        thread=thread,
        parent=parent if parent not in ("", "0") else None,
        body=child_text(c, "comment_content"),
        body_format="wordpress",
        created_at=created,
        status=status,
        author_name=child_text(c, "comment_author"),
        author_email=child_text(c, "comment_author_email"),
        author_url=child_text(c, "comment_author_url"),
        ip=child_text(c, "comment_author_IP"),
        up=up,
        down=down,
        meta=extra,
        where=where,
    )


def parse(file: IO[bytes], pingbacks: Pingbacks = "skip") -> Iterator[Record]:
    items = 0
    for item in elements(file, 2, "WordPress WXR"):
        if local(item.tag) != "item":
            continue
        items += 1
        comments = [c for c in item if local(c.tag) == "comment"]
        if not comments:
            continue
        post_id = child_text(item, "post_id")
        if not post_id:
            yield Skip(
                kind="thread",
                id=child_text(item, "link"),
                where=f"item #{items}",
                reason="post without wp:post_id",
            )
            continue
        date = child_text(item, "post_date_gmt")
        try:
            created = parse_iso(date) if date and not date.startswith("0000") else None
        except ValueError:
            created = None
        yield SourceThread(
            id=post_id,
            url=child_text(item, "link"),
            identifier=child_text(item, "guid"),
            title=child_text(item, "title"),
            closed=child_text(item, "comment_status") == "closed",
            created_at=created,
        )
        for c in comments:
            cid = child_text(c, "comment_id")
            where = f"comment {cid or '?'} of post {post_id}"
            yield from guarded("comment", cid, where, _comment, c, post_id, pingbacks)
    if not items:
        raise ImportFailed("This is not a WordPress export: it has no <item> in its <channel>.")
