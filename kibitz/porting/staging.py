"""A temporary SQLite file that holds a parsed export until it is written thread by thread.

Exports list comments in any order (Disqus: by time across all pages), yet each kibitz thread
is written in one transaction with all its comments. Spooling to disk instead of memory keeps
a large import in bounded memory.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec

from kibitz.porting.records import SourceComment, SourceThread

_BATCH = 2000
# what a record a parser got wrong raises: a field of the wrong type, a number too large
_WRONG = (msgspec.MsgspecError, OverflowError, TypeError)


class Staging:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kibitz-import-")
        self.path = Path(self._dir.name) / "staging.db"
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE threads (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, data BLOB);
            CREATE TABLE comments (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, thread TEXT,
                                   data BLOB);
            """
        )
        self._threads = msgspec.msgpack.Encoder()
        self._thread_decoder = msgspec.msgpack.Decoder(SourceThread)
        self._comment_decoder = msgspec.msgpack.Decoder(SourceComment)
        self._pending: list[tuple[str, str, bytes]] = []
        self.duplicates: list[SourceComment] = []

    def add_thread(self, thread: SourceThread) -> str | None:
        """Keep a thread; if it cannot be kept, why."""
        try:  # what a parser made is checked here, not halfway through writing
            data = self._threads.encode(thread)
            self._thread_decoder.decode(data)
        except _WRONG as exc:
            return f"could not be read ({exc})"
        cur = self.db.execute("INSERT OR IGNORE INTO threads (id, data) VALUES (?, ?)",
                              (thread.id, data))  # fmt: skip
        return None if cur.rowcount == 1 else "thread id repeated"

    def add_comment(self, comment: SourceComment) -> str | None:
        """Keep a comment (a repeated id is found on flushing); if it cannot be kept, why."""
        try:
            data = self._threads.encode(comment)
            self._comment_decoder.decode(data)
        except _WRONG as exc:
            return f"could not be read ({exc})"
        self._pending.append((comment.id, comment.thread, data))
        if len(self._pending) >= _BATCH:
            self.flush()
        return None

    def flush(self) -> None:
        """Write buffered comments; a second comment with an id already seen is kept aside."""
        for cid, thread, data in self._pending:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO comments (id, thread, data) VALUES (?, ?, ?)",
                (cid, thread, data),
            )
            if cur.rowcount != 1:
                self.duplicates.append(self._comment_decoder.decode(data))
        self._pending.clear()

    def finish(self) -> None:
        self.flush()
        self.db.execute("CREATE INDEX comments_thread ON comments (thread, seq)")
        self.db.commit()

    def threads(self) -> Iterator[SourceThread]:
        for (data,) in self.db.execute("SELECT data FROM threads ORDER BY seq"):
            yield self._thread_decoder.decode(data)

    def comments_of(self, thread_ids: list[str]) -> list[SourceComment]:
        marks = ",".join("?" * len(thread_ids))
        rows = self.db.execute(
            f"SELECT data FROM comments WHERE thread IN ({marks}) ORDER BY seq",  # noqa: S608
            thread_ids,
        )
        return [self._comment_decoder.decode(data) for (data,) in rows]

    def staged_of(self, thread_ids: list[str]) -> tuple[list[str], list[bytes]]:
        """The comments' ids, and the comments as staged (for a worker process to decode)."""
        marks = ",".join("?" * len(thread_ids))
        rows = self.db.execute(
            f"SELECT id, data FROM comments WHERE thread IN ({marks}) ORDER BY seq",  # noqa: S608
            thread_ids,
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def count_of(self, thread_ids: list[str]) -> int:
        marks = ",".join("?" * len(thread_ids))
        sql = f"SELECT count(*) FROM comments WHERE thread IN ({marks})"  # noqa: S608
        count: int = self.db.execute(sql, thread_ids).fetchone()[0]
        return count

    def comment_count(self) -> int:
        count: int = self.db.execute("SELECT count(*) FROM comments").fetchone()[0]
        return count

    def orphans(self) -> Iterator[SourceComment]:
        """Comments whose thread the file never describes."""
        rows = self.db.execute(
            "SELECT data FROM comments WHERE thread NOT IN (SELECT id FROM threads) ORDER BY seq"
        )
        for (data,) in rows:
            yield self._comment_decoder.decode(data)

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()
