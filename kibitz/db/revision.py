"""Whether a database is at the newest migration, answered without Alembic.

``kibitz serve`` asks this on every start. With one worker the server runs in the process
that asked, and loading Alembic to find out (with Mako, which loads Pygments' lexers) kept
8 MB in that worker for its lifetime; the answer is one query and a look at the file names'
``revision`` lines. Alembic is loaded only when there is something to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from kibitz.db.engine import Database

VERSIONS = Path(__file__).parent / "migrations" / "versions"
# the module-level ``revision = "0013"`` and ``down_revision = "0012"`` (or None) lines
_LINE = re.compile(r'^(down_revision|revision)\b[^=\n]*=\s*(?:"([^"]+)"|None)\s*$', re.M)


def heads() -> set[str]:
    """The revisions that no other migration comes after (one, unless branches diverge)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for name, value in _LINE.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    return revisions - parents


def _applied(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


async def at_head(database_url: str) -> bool:
    """True when the database has every migration this kibitz knows of."""
    db = Database(database_url)
    try:
        return await db.read(_applied) == heads()
    finally:
        await db.dispose()
