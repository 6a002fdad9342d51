"""Commento JSON export (Dashboard > Danger zone > Export): ``comments`` and ``commenters``.
Comments carry Markdown (and rendered HTML), a page path and domain, a parent (``root`` at
the top level), a state (approved, unapproved, flagged) and a score."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from kibitz.porting.records import (
    ImportFailed,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    Status,
    as_number,
    as_text,
    guarded,
    parse_iso,
)

STATES: dict[str, Status] = {"approved": "approved", "unapproved": "pending", "flagged": "spam"}


def parse(file: IO[bytes]) -> Iterator[Record]:
    try:
        data = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"This is not valid JSON: {exc}. Nothing was imported.") from None
    if not isinstance(data, dict) or not isinstance(data.get("comments"), list):
        raise ImportFailed("This is not a Commento export: it has no list of comments.")
    people: dict[str, dict[str, Any]] = {}
    commenters = data.get("commenters")
    for p in commenters if isinstance(commenters, list) else []:
        if isinstance(p, dict) and isinstance(p.get("commenterHex"), str | int):
            people[str(p["commenterHex"])] = p
    threads: set[str] = set()
    for n, c in enumerate(data["comments"], 1):
        ident = c.get("commentHex") if isinstance(c, dict) else None
        yield from guarded("comment", ident, f"comment #{n}", _comment, c, n, people, threads)


def _comment(
    c: Any, n: int, people: dict[str, dict[str, Any]], threads: set[str]
) -> Iterator[Record]:
    where = f"comment #{n}"
    if not isinstance(c, dict) or not c.get("commentHex"):
        yield Skip(kind="comment", id="", reason="comment without commentHex", where=where)
        return
    cid = as_text(c["commentHex"], "commentHex")
    path = as_text(c.get("url"), "url")
    if not path:
        yield Skip(kind="comment", id=cid, reason="comment without a page url", where=where)
        return
    try:
        created = parse_iso(str(c["creationDate"]))
    except (KeyError, ValueError):
        yield Skip(kind="comment", id=cid, reason="missing or bad creationDate", where=where)
        return
    domain = as_text(c.get("domain"), "domain")
    state = as_text(c.get("state"), "state") or "approved"
    status: Status = "deleted" if c.get("deleted") else STATES.get(state, "pending")
    person = people.get(as_text(c.get("commenterHex"), "commenterHex"), {})
    score = as_number(c.get("score"), "score")
    markdown = c.get("markdown")
    html = as_text(c.get("html"), "html")
    parent = as_text(c.get("parentHex"), "parentHex") or "root"
    name = as_text(person.get("name"), "the commenter's name")
    email = as_text(person.get("email"), "the commenter's email")
    link = as_text(person.get("link"), "the commenter's link")
    if path not in threads:  # once the comment is known good: a thread is made only once
        threads.add(path)
        url = f"https://{domain}{path}" if domain and path.startswith("/") else ""
        yield SourceThread(id=path, url=url, identifier=path)
    yield SourceComment(
        id=cid,
        thread=path,
        parent=None if parent == "root" else parent,
        body=markdown if isinstance(markdown, str) and markdown else html,
        body_format="markdown" if isinstance(markdown, str) and markdown else "html",
        created_at=created,
        status=status,
        author_name=name,
        author_email=email,
        # Commento writes "undefined" for a commenter without a link
        author_url="" if link == "undefined" else link,
        up=max(score, 0),
        down=max(-score, 0),
        where=where,
    )
