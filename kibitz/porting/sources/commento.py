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
    for p in data.get("commenters") or []:
        if isinstance(p, dict) and p.get("commenterHex"):
            people[str(p["commenterHex"])] = p
    threads: set[str] = set()
    for n, c in enumerate(data["comments"], 1):
        yield from _comment(c, n, people, threads)


def _comment(
    c: Any, n: int, people: dict[str, dict[str, Any]], threads: set[str]
) -> Iterator[Record]:
    where = f"comment #{n}"
    if not isinstance(c, dict) or not c.get("commentHex"):
        yield Skip(kind="comment", id="", reason="comment without commentHex", where=where)
        return
    cid = str(c["commentHex"])
    path = str(c.get("url") or "")
    if not path:
        yield Skip(kind="comment", id=cid, reason="comment without a page url", where=where)
        return
    try:
        created = parse_iso(str(c["creationDate"]))
    except (KeyError, ValueError):
        yield Skip(kind="comment", id=cid, reason="missing or bad creationDate", where=where)
        return
    domain = str(c.get("domain") or "")
    if path not in threads:
        threads.add(path)
        url = f"https://{domain}{path}" if domain and path.startswith("/") else ""
        yield SourceThread(id=path, url=url, identifier=path)
    state = str(c.get("state") or "approved")
    status: Status = "deleted" if c.get("deleted") else STATES.get(state, "pending")
    person = people.get(str(c.get("commenterHex") or ""), {})
    score = int(c.get("score") or 0)
    markdown = c.get("markdown")
    parent = str(c.get("parentHex") or "root")
    yield SourceComment(
        id=cid,
        thread=path,
        parent=None if parent == "root" else parent,
        body=markdown if isinstance(markdown, str) and markdown else str(c.get("html") or ""),
        body_format="markdown" if isinstance(markdown, str) and markdown else "html",
        created_at=created,
        status=status,
        author_name=str(person.get("name") or ""),
        author_email=str(person.get("email") or ""),
        # Commento writes "undefined" for a commenter without a link
        author_url="" if person.get("link") in (None, "undefined") else str(person["link"]),
        up=max(score, 0),
        down=max(-score, 0),
        where=where,
    )
