"""One thread's imported comments, made ready to write: the reply tree resolved, bodies
rendered like new comments, authors cleaned, and the invariants a reader relies on kept.

- A reply whose parent is not in the file is shown at the top level (and reported); reply
  loops, which only a damaged file has, are broken the same way.
- A held or spam comment that has published replies becomes a ``[deleted]`` placeholder, as
  in kibitz itself a published comment always hangs under a visible one.
- A deleted comment keeps nothing of its text or author, exactly as when a reader deletes one.
- Sticky or pinned comments (wpDiscuz, Remark42) are pinned and comments closed to replies
  (wpDiscuz) are closed, where kibitz can: it pins and closes only top-level comments, and
  pins only published ones; the others are imported as they are, with a notice.
"""

from __future__ import annotations

import gc
import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from kibitz.porting.htmltext import html_to_markdown, wordpress_to_html
from kibitz.porting.records import MAX_COUNT, SourceComment
from kibitz.security import Signer
from kibitz.services import comments as comment_service
from kibitz.services import threads as thread_service
from kibitz.services.addresses import check_email
from kibitz.services.errors import Invalid
from kibitz.services.reading import wilson_lower_bound
from kibitz.settings import Settings

HIDDEN = ("pending", "spam", "rejected")


@dataclass(frozen=True)
class Existing:
    """A comment imported earlier that new replies may hang under."""

    id: int
    thread_id: int
    root_id: int | None
    depth: int


@dataclass
class NewRow:
    source_id: str
    parent_new: str | None  # the parent is in this import
    parent_existing: Existing | None  # the parent was imported before
    values: dict[str, Any]
    meta: dict[str, Any]


@dataclass
class Plan:
    generations: list[list[NewRow]] = field(default_factory=list)
    already: int = 0
    notices: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(g) for g in self.generations)


def markdown_of(c: SourceComment) -> str:
    if c.body_format == "html":
        text = html_to_markdown(c.body)
    elif c.body_format == "wordpress":
        text = html_to_markdown(wordpress_to_html(c.body))
    else:
        text = c.body
    return text.replace("\r\n", "\n").replace("\x00", "").strip()


def _author(settings: Settings, c: SourceComment) -> tuple[str, str | None, str | None]:
    # WordPress keeps entities in names ("Cynwise&#039;s"); never let markup through either
    spaced = re.sub(r"\s", " ", html.unescape(c.author_name))
    name = comment_service._clean_line(spaced)[: comment_service.MAX_NAME]
    try:
        email = check_email(c.author_email, "author_email") if c.author_email.strip() else None
    except Invalid:
        email = None
    url: str | None = c.author_url.strip() or None
    if url is not None:
        if not settings.allow_website:
            url = None
        else:
            if not comment_service.SCHEME_RE.match(url):
                url = "https://" + url
            try:
                url = thread_service.check_url(url, "author_url") or None
            except Invalid:
                url = None
    return name or settings.guest_name, email, url


def _tree(
    thread_id: int | None,
    new: dict[str, SourceComment],
    existing: dict[str, Existing],
    notices: list[str],
) -> tuple[
    list[list[str]], dict[str, str | None], dict[str, Existing | None], dict[str, list[str]]
]:
    """Generations (parents before replies), and each comment's parent, new or earlier."""
    parent_new: dict[str, str | None] = {}
    parent_old: dict[str, Existing | None] = {}
    children: dict[str | None, list[str]] = defaultdict(list)
    for cid, c in new.items():
        parent_new[cid], parent_old[cid] = None, None
        if c.parent is None:
            children[None].append(cid)
        elif c.parent in new and c.parent != cid:
            parent_new[cid] = c.parent
            children[c.parent].append(cid)
        elif c.parent in existing and existing[c.parent].thread_id == thread_id:
            parent_old[cid] = existing[c.parent]
            children[None].append(cid)
        else:
            notices.append("replies whose parent is not in the file shown at the top level")
            children[None].append(cid)
    generations: list[list[str]] = []
    placed: set[str] = set()
    frontier = list(children[None])
    while True:
        while frontier:
            generations.append(frontier)
            placed.update(frontier)
            frontier = [ch for cid in frontier for ch in children.get(cid, [])]
        loose = [cid for cid in new if cid not in placed]
        if not loose:
            break
        # a reply loop: its earliest comment goes to the top level
        notices.append("reply loops (a damaged file) broken at the top level")
        first = loose[0]
        parent_new[first] = None
        if generations:
            generations[0].append(first)
            placed.add(first)
            frontier = list(children.get(first, []))
        else:
            frontier = [first]
    kids = {k: v for k, v in children.items() if k is not None}
    return generations, parent_new, parent_old, kids


def _flags(
    c: SourceComment, cid: str, status: str, parent_new: dict[str, str | None],
    parent_old: dict[str, Existing | None], new: dict[str, SourceComment], now: datetime,
    notices: list[str],
) -> tuple[datetime | None, datetime | None]:  # fmt: skip
    """When the comment is pinned (its own date, so pinned comments keep the source's order)
    and when it was closed to replies (now: the source does not say)."""
    top = parent_new[cid] is None and parent_old[cid] is None
    pinned_at = closed_at = None
    if c.meta.get("sticky") or c.meta.get("pinned"):
        if top and status == "approved":
            pinned_at = c.created_at
        else:
            notices.append(
                "pinned replies or unpublished comments imported unpinned (kibitz pins "
                "published top-level comments)"
            )
    if c.meta.get("closed"):
        if top:
            closed_at = now
        else:
            root = cid
            while parent_new.get(root) is not None:
                root = parent_new[root]  # type: ignore[assignment]
            if not (parent_old.get(root) is None and new[root].meta.get("closed")):
                notices.append(
                    "replies closed under an open comment imported open (kibitz closes a "
                    "top-level comment's whole conversation)"
                )
    return pinned_at, closed_at


_decoder = msgspec.msgpack.Decoder(SourceComment)


def ready() -> None:
    """A worker process's start. To run this, it has imported this module and all a plan
    needs; those objects live as long as the process, so the collector is told to leave them
    alone, rather than walk them in every full collection and once more at exit (0.4 s)."""
    gc.freeze()


def make_plan(
    settings: Settings,
    signer: Signer,
    staged: list[bytes],
    existing: dict[str, Existing],
    thread_id: int | None,
    now: datetime,
) -> Plan:
    """The plan for one thread's comments, given as staged (msgpack, which crosses to a
    worker process faster than objects do)."""
    comments = [_decoder.decode(data) for data in staged]
    plan = Plan()
    new: dict[str, SourceComment] = {}
    for c in comments:
        if c.id in existing:
            plan.already += 1
        else:
            new[c.id] = c
    if not new:
        return plan
    generations, parent_new, parent_old, kids = _tree(thread_id, new, existing, plan.notices)
    bodies: dict[str, str] = {}
    status: dict[str, str] = {}
    for cid, c in new.items():
        status[cid] = c.status
        if c.status != "deleted":
            bodies[cid] = markdown_of(c)
            if not bodies[cid]:
                status[cid] = "deleted"
                plan.notices.append("comments with an empty body kept as [deleted] placeholders")
    # bottom up: a hidden comment with published replies becomes a placeholder
    visible: dict[str, bool] = {}
    for generation in reversed(generations):
        for cid in generation:
            has_visible_reply = any(visible[k] for k in kids.get(cid, []))
            if status[cid] in HIDDEN and has_visible_reply:
                status[cid] = "deleted"
                plan.notices.append(
                    "held or spam comments with published replies kept as [deleted] placeholders"
                )
            visible[cid] = status[cid] == "approved" or (
                status[cid] == "deleted" and has_visible_reply
            )
    for generation in generations:
        rows = []
        for cid in generation:
            c = new[cid]
            deleted = status[cid] == "deleted"
            pinned_at, closed_at = _flags(c, cid, status[cid], parent_new, parent_old, new, now,
                                          plan.notices)  # fmt: skip
            name, email, url = _author(settings, c)
            body = "" if deleted else bodies[cid]
            up, down = (min(max(n, 0), MAX_COUNT) for n in (c.up, c.down))
            values = {
                "status": status[cid],
                "author_name": "" if deleted else name,
                "author_email": None if deleted else email,
                "author_url": None if deleted else url,
                "body_md": body,
                "body_html": comment_service.render(settings, body) if body else "",
                "created_at": c.created_at,
                "edited_at": None if deleted else c.edited_at,
                "deleted_at": now if deleted else None,
                "up": up,
                "down": down,
                "score": up - down,
                "wilson": wilson_lower_bound(up, down),
                "ip_hash": signer.ip_hash(c.ip.strip()),
                # replies from this import; a thread that had comments is recounted whole
                "reply_count": sum(1 for k in kids.get(cid, []) if visible[k]),
                "pinned_at": pinned_at,
                "replies_closed_at": closed_at,
            }
            rows.append(NewRow(cid, parent_new[cid], parent_old[cid], values, c.meta))
        plan.generations.append(rows)
    return plan
