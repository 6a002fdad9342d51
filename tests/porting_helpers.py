"""Shared by the import and backup tests: importing the sample files, and checking that the
counters a reader sees agree with the rows."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kibitz.context import Kibitz
from kibitz.db.tables import comments, threads
from kibitz.porting.importer import ImportOptions, ImportReport, import_file

DATA = Path(__file__).parent / "data"
PAGE = "/2021/06/russia-strengthening-bases/"


def isso_database(tmp_path: Path) -> Path:
    """The Isso sample, made from its SQL (an SQLite file is no readable test fixture)."""
    path = tmp_path / "isso.db"
    db = sqlite3.connect(path)
    db.executescript((DATA / "isso.sql").read_text("utf-8"))
    db.commit()
    db.close()
    return path


async def import_sample(kb: Kibitz, fmt: str, path: Path | str, **options: Any) -> ImportReport:
    file = DATA / path if isinstance(path, str) else path
    with file.open("rb") as f:
        return await import_file(kb, f, ImportOptions(format=fmt, **options))  # type: ignore[arg-type]


async def rows(kb: Kibitz, table: sa.Table = comments) -> list[Any]:
    order = list(table.primary_key.columns)
    return await kb.db.read(lambda conn: list(conn.execute(sa.select(table).order_by(*order))))


async def assert_counts_consistent(kb: Kibitz) -> None:
    """reply_count, comment_count and last_comment_at as the live write paths keep them."""
    all_comments = await rows(kb)
    by_id = {c.id: c for c in all_comments}
    replies: Counter[int] = Counter()
    for c in sorted(all_comments, key=lambda c: -c.depth):
        visible = c.status == "approved" or (c.status == "deleted" and replies[c.id] > 0)
        if visible and c.parent_id is not None:
            replies[c.parent_id] += 1
    for c in all_comments:
        assert c.reply_count == replies[c.id], (c.id, c.reply_count, replies[c.id])
        assert c.score == c.up - c.down
        if c.parent_id is not None:
            parent = by_id[c.parent_id]
            assert c.depth == parent.depth + 1
            assert c.root_id == (parent.root_id or parent.id)
            assert parent.thread_id == c.thread_id
    for t in await rows(kb, threads):
        approved = [c for c in all_comments if c.thread_id == t.id and c.status == "approved"]
        assert t.comment_count == len(approved)
        assert t.last_comment_at == max((c.created_at for c in approved), default=None)
