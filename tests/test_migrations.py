"""Migrations: an empty database upgrades to head on SQLite and PostgreSQL and then matches
the declared tables exactly; downgrading and upgrading again works."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from kibitz.db import migrate, revision
from kibitz.db.engine import Database
from kibitz.db.search import not_search_object
from kibitz.db.tables import campaign_goals, metadata
from tests.conftest import ENGINES


@pytest.fixture(params=ENGINES)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def _differences(conn: Connection) -> list[Any]:
    opts = {"include_name": not_search_object}
    return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_an_empty_database_to_head_matches_the_tables(empty_database: str) -> None:
    db = Database(empty_database)
    try:
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await db.run(_differences) == []
        await migrate.upgrade(db)  # a second run changes nothing
        assert await db.run(_differences) == []
    finally:
        await db.dispose()


async def test_downgrade_to_base_and_upgrade_again(empty_database: str) -> None:
    db = Database(empty_database)
    try:
        await migrate.upgrade(db)
        await migrate.downgrade(db, "base")
        assert await db.run(_tables) <= {"alembic_version"}
        await migrate.upgrade(db)
        assert await db.run(_differences) == []
    finally:
        await db.dispose()


def test_the_migration_chain_is_linear() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(scripts.get_heads()) == 1
    assert scripts.get_current_head() == migrate.head_revision()


async def test_the_comparison_notices_a_schema_that_lags_behind(empty_database: str) -> None:
    """The check above can fail: a database one migration behind differs from the tables."""
    db = Database(empty_database)
    try:
        await migrate.upgrade(db, "0001")
        differences = await db.run(_differences)
        added = [d[1].name for d in differences if isinstance(d, tuple) and d[0] == "add_table"]
        assert "articles" in added
    finally:
        await db.dispose()


async def test_the_search_objects_exist_after_upgrading(empty_database: str) -> None:
    """Search lives outside the declared tables, so the comparison above skips it: check it."""
    db = Database(empty_database)
    try:
        await migrate.upgrade(db)

        def present(conn: Connection) -> set[str]:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql("SELECT name FROM sqlite_master")
            else:
                rows = conn.exec_driver_sql("SELECT indexname FROM pg_indexes")
            return {r[0] for r in rows}

        names = await db.run(present)
        assert ("comments_fts" if db.is_sqlite else "ix_comments_search") in names
    finally:
        await db.dispose()


async def test_goals_per_period_start_from_each_campaigns_goal(empty_database: str) -> None:
    """Campaigns made before goals were kept per period keep their goal from their first month."""
    db = Database(empty_database)
    try:
        await migrate.upgrade(db, "0009")

        def add(conn: Connection) -> None:
            utc = "+00" if conn.dialect.name == "postgresql" else ""  # SQLite keeps UTC naive
            conn.exec_driver_sql(
                "INSERT INTO campaigns (slug, name, description, period, currency, goal, "
                "milestones, suggested_amounts, min_amount, max_amount, supporter_wall, "
                "starts_at, created_at, updated_at) VALUES ('southfront', 'Support', '', "
                "'monthly', 'USD', 500000, '0,100000,500000', '500,1000', 200, 1000000, true, "
                f"'2021-06-01 00:00:00{utc}', '2021-06-01 00:00:00{utc}', "
                f"'2021-06-02 00:00:00{utc}')"
            )

        await db.run(add)
        await migrate.upgrade(db)

        def goals(conn: Connection) -> list[Any]:
            return list(conn.execute(sa.select(campaign_goals)).all())

        [row] = await db.run(goals)
        assert (row.campaign_id, row.goal, row.milestones) == (1, 500000, "0,100000,500000")
        assert row.effective_from == datetime(2021, 6, 1, tzinfo=UTC)
    finally:
        await db.dispose()


def _ledger_guards(conn: Connection) -> list[str]:
    """The ledger's triggers as the database keeps them (SQLite: their SQL; PostgreSQL: the
    function's body)."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'ledger_entries' ORDER BY name"
        )
        return [r[0] for r in rows]
    rows = conn.exec_driver_sql(
        "SELECT prosrc FROM pg_proc WHERE proname = 'ledger_entries_append_only'"
    )
    return [r[0] for r in rows]


async def test_the_ledger_guards_after_migrating_are_the_declared_ones(
    empty_database: str,
) -> None:
    """Triggers are outside what the comparison above sees: a database migrated to head must
    guard the ledger exactly as a new one does (a ledger column added without updating the
    trigger in a migration fails here)."""
    from kibitz.db.tables import LEDGER_GUARDS

    db = Database(empty_database)
    try:
        await migrate.upgrade(db)
        found = await db.run(_ledger_guards)
        declared = LEDGER_GUARDS["sqlite" if db.is_sqlite else "postgresql"]
        if db.is_sqlite:
            assert sorted(found) == sorted(s for s in declared if s.startswith("CREATE TRIGGER"))
        else:
            [body] = found
            assert f"$${body}$$" in declared[0]
        await migrate.downgrade(db, "0012")
        assert await db.run(_ledger_guards) != found  # the check can fail
    finally:
        await db.dispose()


def test_the_head_read_from_the_files_is_alembic_s() -> None:
    assert revision.heads() == {migrate.head_revision()}


async def test_serve_knows_without_alembic_when_there_is_something_to_migrate(
    empty_database: str,
) -> None:
    assert not await revision.at_head(empty_database)  # nothing applied yet
    db = Database(empty_database)
    try:
        await migrate.upgrade(db)
        assert await revision.at_head(empty_database)
        await migrate.downgrade(db, "-1")
        assert not await revision.at_head(empty_database)  # one behind
    finally:
        await db.dispose()
