"""Isso: its SQLite database (tables ``threads`` and ``comments``) or its generic JSON import
format (a list of threads, each with its comments). Isso stores Markdown; its addresses are
already anonymised (the last part zeroed), and kibitz hashes them again with its key."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from kibitz.porting.records import (
    ImportFailed,
    Notice,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    Status,
    from_timestamp,
    parse_iso,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
MODES: dict[int, Status] = {1: "approved", 2: "pending", 4: "deleted"}


def _int(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def parse_sqlite(path: Path) -> Iterator[Record]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFailed(f"Cannot open the Isso database: {exc}") from None
    db.row_factory = sqlite3.Row
    try:
        try:
            threads = db.execute("SELECT * FROM threads ORDER BY id").fetchall()
            rows = db.execute("SELECT * FROM comments ORDER BY id")
        except sqlite3.DatabaseError as exc:
            raise ImportFailed(f"This is not an Isso database: {exc}") from None
        for t in threads:
            keys = t.keys()
            yield SourceThread(
                id=str(t["id"]),
                identifier=t["uri"] or "",
                title=(t["title"] if "title" in keys else "") or "",
            )
        for row in rows:
            yield from _sqlite_comment(dict(row))
    finally:
        db.close()


def _sqlite_comment(c: dict[str, Any]) -> Iterator[Record]:
    cid = str(c.get("id", ""))
    where = f"comment {cid}"
    status = MODES.get(_int(c.get("mode")))
    if status is None:
        yield Skip(kind="comment", id=cid, reason=f"unknown mode {c.get('mode')!r}", where=where)
        return
    try:
        created = from_timestamp(float(c["created"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        yield Skip(kind="comment", id=cid, reason="missing or bad created time", where=where)
        return
    try:
        edited = from_timestamp(float(c["modified"])) if c.get("modified") else None
    except (TypeError, ValueError, OverflowError):
        edited = None
    if c.get("notification"):
        yield Notice(
            message="Isso reply-notification opt-ins not carried over "
            "(kibitz asks readers to confirm by mail)"
        )
    yield SourceComment(
        id=cid,
        thread=str(c.get("tid", "")),
        parent=str(c["parent"]) if c.get("parent") is not None else None,
        body=c.get("text") or "",
        body_format="markdown",
        created_at=created,
        edited_at=edited,
        status=status,
        author_name=c.get("author") or "",
        author_email=c.get("email") or "",
        author_url=c.get("website") or "",
        ip=c.get("remote_addr") or "",
        up=_int(c.get("likes")),
        down=_int(c.get("dislikes")),
        where=where,
    )


def parse_json(file: IO[bytes]) -> Iterator[Record]:
    try:
        data = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"This is not valid JSON: {exc}. Nothing was imported.") from None
    if not isinstance(data, list):
        raise ImportFailed("Isso's JSON format is a list of threads; this file is not a list.")
    for n, thread in enumerate(data, 1):
        if not isinstance(thread, dict) or not str(thread.get("id") or "").strip():
            yield Skip(kind="thread", id="", reason="thread without an id", where=f"thread #{n}")
            continue
        tid = str(thread["id"]).strip()
        yield SourceThread(id=tid, identifier=tid, title=str(thread.get("title") or ""))
        comments = thread.get("comments")
        for m, c in enumerate(comments if isinstance(comments, list) else [], 1):
            yield from _json_comment(c, tid, f"thread {tid}, comment #{m}")


def _json_comment(c: Any, tid: str, where: str) -> Iterator[Record]:
    if not isinstance(c, dict) or c.get("id") in (None, ""):
        yield Skip(kind="comment", id="", reason="comment without an id", where=where)
        return
    # ids are unique only inside a thread in this format
    cid = f"{tid}#{c['id']}"
    try:
        created = parse_iso(str(c["created"]))
    except (KeyError, ValueError):
        yield Skip(kind="comment", id=cid, reason="missing or bad created time", where=where)
        return
    text = c.get("text")
    if not isinstance(text, str):
        yield Skip(kind="comment", id=cid, reason="comment without text", where=where)
        return
    parent = c.get("parent")
    yield SourceComment(
        id=cid,
        thread=tid,
        parent=f"{tid}#{parent}" if parent not in (None, "", 0) else None,
        body=text,
        body_format="markdown",
        created_at=created,
        author_name=str(c.get("author") or ""),
        author_email=str(c.get("email") or ""),
        author_url=str(c.get("website") or ""),
        ip=str(c.get("remote_addr") or ""),
        where=where,
    )
