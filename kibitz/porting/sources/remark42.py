"""Remark42 backup (``backup-<site>-<date>.gz``, also what its admin export gives): one JSON
line of metadata (users, posts with their read-only flag), then one JSON line per comment.
``orig`` is the Markdown the reader wrote, ``text`` its rendered HTML. Addresses are stored
hashed by Remark42 and cannot be carried over: none is passed on.

The backup has no end marker: gzipped, a cut-off file is told by gzip's own check; an
uncompressed file cut exactly at a line end cannot be told from a whole one (the importer's
report says so)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from kibitz.porting.records import (
    ImportFailed,
    Notice,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    as_number,
    as_object,
    as_text,
    guarded,
    parse_iso,
)


def parse(file: IO[bytes]) -> Iterator[Record]:
    closed: set[str] = set()
    threads: set[str] = set()
    first = True
    for n, raw in enumerate(file, 1):
        line = raw.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if first:
                raise ImportFailed(
                    "This is not a Remark42 backup: its first line is not JSON."
                ) from None
            yield Skip(
                kind="record",
                id="",
                reason="not a JSON line (damaged or cut off)",
                where=f"line {n}",
            )
            continue
        if first:
            first = False
            if not isinstance(data, dict) or "version" not in data:
                raise ImportFailed("This is not a Remark42 backup: the first line has no version.")
            if data.get("version") not in (0, 1):
                raise ImportFailed(f"Remark42 backup version {data['version']} is not known.")
            posts, users = data.get("posts"), data.get("users")
            for post in posts if isinstance(posts, list) else []:
                if isinstance(post, dict) and post.get("read_only"):
                    closed.add(str(post.get("url", "")))
            blocked = [
                u
                for u in (users if isinstance(users, list) else [])
                if isinstance(u, dict)
                and isinstance(u.get("blocked"), dict)
                and u["blocked"].get("status")
            ]
            for _ in blocked:
                yield Notice(
                    message="Remark42 blocked users not carried over (kibitz bans "
                    "are by address or voter)"
                )
            continue
        ident = data.get("id") if isinstance(data, dict) else None
        yield from guarded("comment", ident, f"line {n}", _comment, data, n, closed, threads)
    if first:
        raise ImportFailed("This Remark42 backup is empty.")


def _comment(c: Any, n: int, closed: set[str], threads: set[str]) -> Iterator[Record]:
    where = f"line {n}"
    if not isinstance(c, dict) or not c.get("id"):
        yield Skip(kind="comment", id="", reason="comment without an id", where=where)
        return
    cid = as_text(c["id"], "id")
    url = as_text(as_object(c.get("locator"), "locator").get("url"), "locator.url")
    if not url:
        yield Skip(kind="comment", id=cid, reason="comment without locator.url", where=where)
        return
    try:
        created = parse_iso(str(c["time"]))
    except (KeyError, ValueError):
        yield Skip(kind="comment", id=cid, reason="missing or bad time", where=where)
        return
    votes = c.get("votes") or {}
    if isinstance(votes, dict) and votes:
        up = sum(1 for v in votes.values() if v is True)
        down = sum(1 for v in votes.values() if v is False)
    else:
        score = as_number(c.get("score"), "score")
        up, down = max(score, 0), max(-score, 0)
    orig, text = c.get("orig"), as_text(c.get("text"), "text")
    user = as_object(c.get("user"), "user")
    name = as_text(user.get("name"), "user.name")
    edit = as_object(c.get("edit"), "edit")
    parent = as_text(c.get("pid"), "pid")
    title = as_text(c.get("title"), "title")
    try:
        edited = parse_iso(str(edit["time"])) if edit.get("time") else None
    except ValueError:
        edited = None
    if url not in threads:  # once the comment is known good: a thread is made only once
        threads.add(url)
        yield SourceThread(id=url, url=url, title=title, closed=url in closed)
    meta: dict[str, Any] = {}
    if c.get("pin"):
        meta["pinned"] = True
        yield Notice(
            message="Remark42 pinned comments imported pinned "
            "(also marked pinned in import_records.meta)"
        )
    # user.ip is Remark42's own keyed hash of the address, not an address: nothing to keep
    yield SourceComment(
        id=cid,
        thread=url,
        parent=parent or None,
        body=orig if isinstance(orig, str) and orig else text,
        body_format="markdown" if isinstance(orig, str) and orig else "html",
        created_at=created,
        edited_at=edited,
        status="deleted" if c.get("delete") else "approved",
        author_name=name,
        up=up,
        down=down,
        meta=meta,
        where=where,
    )
