"""Full-text search of comments and their authors' names, on both engines.

SQLite: an FTS5 table that indexes the comments table itself (external content), kept in step
by triggers. PostgreSQL: a GIN index over ``to_tsvector('simple', name || ' ' || body)``.
Both use the language-neutral "simple" tokenising (no stemming), so a query finds the same
comments on either engine. These objects live outside the declared tables (neither engine's
object can be declared in SQLAlchemy Core for both); ``create_all`` and migration 0004 both
create them with ``create()``, and the schema comparison skips the names in ``OBJECTS``.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.db.tables import comments

OBJECTS = frozenset(
    {
        "comments_fts", "comments_fts_data", "comments_fts_idx", "comments_fts_docsize",
        "comments_fts_config", "ix_comments_search",
    }
)  # fmt: skip

_SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS comments_fts USING fts5("
    "author_name, body_md, content='comments', content_rowid='id')",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_insert AFTER INSERT ON comments BEGIN "
    "INSERT INTO comments_fts(rowid, author_name, body_md) "
    "VALUES (new.id, new.author_name, new.body_md); END",
    "CREATE TRIGGER IF NOT EXISTS comments_fts_delete AFTER DELETE ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, author_name, body_md) "
    "VALUES ('delete', old.id, old.author_name, old.body_md); END",
    # only when the indexed text changes: votes update comments far more often
    "CREATE TRIGGER IF NOT EXISTS comments_fts_update AFTER UPDATE OF author_name, body_md "
    "ON comments BEGIN "
    "INSERT INTO comments_fts(comments_fts, rowid, author_name, body_md) "
    "VALUES ('delete', old.id, old.author_name, old.body_md); "
    "INSERT INTO comments_fts(rowid, author_name, body_md) "
    "VALUES (new.id, new.author_name, new.body_md); END",
]
_POSTGRES = [
    "CREATE INDEX IF NOT EXISTS ix_comments_search ON comments USING gin "
    "(to_tsvector('simple', author_name || ' ' || body_md))",
]


def create(conn: Connection) -> None:
    """Create the search objects and index the comments already there."""
    if conn.dialect.name == "sqlite":
        for sql in _SQLITE:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")
    else:
        for sql in _POSTGRES:
            conn.exec_driver_sql(sql)


def drop(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS comments_fts_{trigger}")
        conn.exec_driver_sql("DROP TABLE IF EXISTS comments_fts")
    else:
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_comments_search")


def purge(conn: Connection) -> None:
    """Rewrite the index so that text removed from comments is gone from its pages too
    (FTS5 otherwise keeps deleted terms in old segments until they are merged)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO comments_fts(comments_fts) VALUES ('optimize')")


_WORD = re.compile(r"\w+", re.UNICODE)


def words(query: str) -> list[str]:
    """The words of a search box's text, at most eight; operators and quotes are ignored."""
    return _WORD.findall(query.lower())[:8]


def matches(conn: Connection, query: str) -> Any:
    """A condition on ``comments`` that is true for comments whose author's name or text has
    every word of ``query`` (as a prefix: "moder" finds "moderation"). None when no words."""
    found = words(query)
    if not found:
        return None
    if conn.dialect.name == "sqlite":
        fts = " AND ".join(f'"{w}"*' for w in found)
        ids = sa.text("SELECT rowid FROM comments_fts WHERE comments_fts MATCH :q").bindparams(
            q=fts
        )
        return comments.c.id.in_(ids.columns(sa.column("rowid", sa.Integer)).subquery().select())
    tsquery = " & ".join(f"{w}:*" for w in found)
    vector = sa.func.to_tsvector(
        sa.literal_column("'simple'"), comments.c.author_name + " " + comments.c.body_md
    )
    return vector.bool_op("@@")(sa.func.to_tsquery(sa.literal_column("'simple'"), tsquery))


def not_search_object(name: str | None, _type: str, _parents: Any) -> bool:
    """For schema comparison (autogenerate, tests): leave out the search objects."""
    return name not in OBJECTS
