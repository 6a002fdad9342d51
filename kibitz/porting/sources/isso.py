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
    BadField,
    ImportFailed,
    Notice,
    Record,
    Skip,
    SourceComment,
    SourceThread,
    Status,
    as_number,
    as_text,
    from_timestamp,
    guarded,
    parse_iso,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
MODES: dict[int, Status] = {1: "approved", 2: "pending", 4: "deleted"}


def _int(value: Any) -> int:
    try:
        return max(as_number(value, "count"), 0)
    except BadField:
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
            yield from guarded("thread", t["id"], f"thread {t['id']}", _sqlite_thread, t)
        for row in rows:
            c = dict(row)
            where = f"comment {c.get('id')}"
            yield from guarded("comment", c.get("id"), where, _sqlite_comment, c)
    finally:
        db.close()


def _sqlite_thread(t: sqlite3.Row) -> SourceThread:
    columns = t.keys()
    return SourceThread(
        id=as_text(t["id"], "id"),
        identifier=as_text(t["uri"], "uri"),
        title=as_text(t["title"], "title") if "title" in columns else "",
    )


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
    comment = SourceComment(
        id=cid,
        thread=as_text(c.get("tid"), "tid"),
        parent=as_text(c["parent"], "parent") if c.get("parent") is not None else None,
        body=as_text(c.get("text"), "text"),
        body_format="markdown",
        created_at=created,
        edited_at=edited,
        status=status,
        author_name=as_text(c.get("author"), "author"),
        author_email=as_text(c.get("email"), "email"),
        author_url=as_text(c.get("website"), "website"),
        ip=as_text(c.get("remote_addr"), "remote_addr"),
        up=_int(c.get("likes")),
        down=_int(c.get("dislikes")),
        where=where,
    )
    if c.get("notification"):
        yield Notice(
            message="Isso reply-notification opt-ins not carried over "
            "(kibitz asks readers to confirm by mail)"
        )
    yield comment


def parse_json(file: IO[bytes]) -> Iterator[Record]:
    try:
        data = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"This is not valid JSON: {exc}. Nothing was imported.") from None
    if not isinstance(data, list):
        raise ImportFailed("Isso's JSON format is a list of threads; this file is not a list.")
    for n, thread in enumerate(data, 1):
        ident = thread.get("id") if isinstance(thread, dict) else None
        yield from guarded("thread", ident, f"thread #{n}", _json_thread, thread, n)


def _json_thread(thread: Any, n: int) -> Iterator[Record]:
    tid = as_text(thread.get("id"), "id").strip() if isinstance(thread, dict) else ""
    if not tid:
        yield Skip(kind="thread", id="", reason="thread without an id", where=f"thread #{n}")
        return
    yield SourceThread(id=tid, identifier=tid, title=as_text(thread.get("title"), "title"))
    comments = thread.get("comments")
    for m, c in enumerate(comments if isinstance(comments, list) else [], 1):
        where = f"thread {tid}, comment #{m}"
        ident = f"{tid}#{c['id']}" if isinstance(c, dict) and "id" in c else ""
        yield from guarded("comment", ident, where, _json_comment, c, tid, where)


def _json_comment(c: Any, tid: str, where: str) -> Iterator[Record]:
    if not isinstance(c, dict) or c.get("id") in (None, ""):
        yield Skip(kind="comment", id="", reason="comment without an id", where=where)
        return
    # ids are unique only inside a thread in this format
    cid = f"{tid}#{as_text(c['id'], 'id')}"
    try:
        created = parse_iso(str(c["created"]))
    except (KeyError, ValueError):
        yield Skip(kind="comment", id=cid, reason="missing or bad created time", where=where)
        return
    text = c.get("text")
    if not isinstance(text, str):
        yield Skip(kind="comment", id=cid, reason="comment without text", where=where)
        return
    parent = as_text(c.get("parent"), "parent")
    yield SourceComment(
        id=cid,
        thread=tid,
        parent=f"{tid}#{parent}" if parent not in ("", "0") else None,
        body=text,
        body_format="markdown",
        created_at=created,
        author_name=as_text(c.get("author"), "author"),
        author_email=as_text(c.get("email"), "email"),
        author_url=as_text(c.get("website"), "website"),
        ip=as_text(c.get("remote_addr"), "remote_addr"),
        where=where,
    )
