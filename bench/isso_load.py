"""Load the benchmark's comments into Isso through Isso's own storage.

Runs under Isso's virtual environment (bench/.isso/venv), not kibitz's:

    bench/.isso/venv/bin/python bench/isso_load.py ISSO_CFG KIBITZ_SQLITE OUT_DB

Isso's ``SQLite3`` class creates its schema (tables, trigger, user_version) and its own
``Bloomfilter`` fills the voters column; the rows are the kibitz seed's, read from its SQLite
file, and keep their ids, so "comment 1234" is the same comment on both systems. Isso keeps
two levels (a reply to a reply hangs under the top-level comment, as Isso's ``add`` does), the
raw Markdown (it renders on every read) and a /24 address per author. The rows go in with one
``executemany`` in a transaction: Isso's own ``add`` opens a connection and rescans the table
per comment, which takes minutes for data it would have gathered over years.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from isso import config
from isso.db import SQLite3
from isso.utils import Bloomfilter, anonymize


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _address(ip_hash: str) -> str:
    # a stable, anonymised (/24) address per author, as Isso stores them
    n = int(ip_hash[:6], 16)
    return str(anonymize(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"))


def main(cfg_path: str, kibitz_db: str, out: str) -> None:
    Path(out).unlink(missing_ok=True)
    conf = config.load(config.default_file(), cfg_path)
    conf.set("general", "dbpath", out)
    db = SQLite3(out, conf)  # Isso's schema, migrations and trigger
    src = sqlite3.connect(kibitz_db)
    threads = src.execute("SELECT id, key, title FROM threads ORDER BY id").fetchall()
    rows = []
    for r in src.execute(
        "SELECT id, thread_id, root_id, created_at, status, ip_hash, body_md, author_name, "
        "author_email, author_url, up, down FROM comments ORDER BY id"
    ):
        cid, tid, root, created, status, ip_hash, text, author, email, website, up, down = r
        addr = _address(ip_hash)
        voters = memoryview(Bloomfilter(iterable=[addr]).array)
        mode = 1 if status == "approved" else 2
        rows.append((tid, cid, root, _epoch(created), None, mode, addr, text, author, email,
                     website, up, down, voters, 0))  # fmt: skip
    src.close()
    con = sqlite3.connect(db.path)
    with con:
        con.executemany("INSERT INTO threads (id, uri, title) VALUES (?, ?, ?)", threads)
        con.executemany(
            "INSERT INTO comments (tid, id, parent, created, modified, mode, remote_addr, text, "
            "author, email, website, likes, dislikes, voters, notification) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    con.close()
    # read back through Isso's storage: every thread counts what kibitz counts
    shown = db.comments.count(*[uri for _, uri, _ in threads])
    src = sqlite3.connect(kibitz_db)
    expected = [n for (n,) in src.execute("SELECT comment_count FROM threads ORDER BY id")]
    src.close()
    if list(shown) != expected:
        sys.exit(f"isso_load: Isso counts {sum(shown)} comments, kibitz {sum(expected)}")
    print(f"isso: {len(rows)} comments in {len(threads)} threads")


if __name__ == "__main__":
    main(*sys.argv[1:4])
