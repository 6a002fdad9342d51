"""Where SQLite's queries run. Writes that wait for the writer thread commit together
(group commit): each still commits or rolls back on its own, and each caller hears only of
its own. Small reads (``peek``) run on the event loop's own connection and see every
committed write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.db.engine import GROUP_MAX, Database

NOTES = sa.table("notes", sa.column("id", sa.Integer), sa.column("text", sa.String))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.sqlite'}")

    def schema(conn: Connection) -> None:
        conn.exec_driver_sql(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)"
        )

    await database.run(schema)
    yield database
    await database.dispose()


def _add(text: str, *, then_fail: bool = False) -> Callable[[Connection], int]:
    def write(conn: Connection) -> int:
        new_id: int = conn.execute(
            sa.insert(NOTES).values(text=text).returning(NOTES.c.id)
        ).scalar_one()
        if then_fail:
            raise ValueError(f"{text} changed its mind")
        return new_id

    return write


async def _texts(db: Database) -> list[str]:
    def read(conn: Connection) -> list[str]:
        return list(conn.execute(sa.select(NOTES.c.text).order_by(NOTES.c.text)).scalars())

    return await db.read(read)


class _Gate:
    """A first write that holds the writer thread until opened, so that the writes sent
    meanwhile wait and are then committed as one group."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, conn: Connection) -> None:
        self.entered.set()
        assert self.opened.wait(10)


async def _behind_gate(db: Database, writes: list[Callable[[Connection], Any]]) -> list[Any]:
    gate = _Gate()
    held = asyncio.ensure_future(db.write(gate))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    tasks = [asyncio.ensure_future(db.write(w)) for w in writes]
    await asyncio.sleep(0)  # every write is waiting
    gate.opened.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_write_that_raises_rolls_back_alone(db: Database) -> None:
    writes = [_add(f"note {i}", then_fail=i == 3) for i in range(8)]
    results = await _behind_gate(db, writes)
    failed = results[3]
    assert isinstance(failed, ValueError) and str(failed) == "note 3 changed its mind"
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 3)
    assert await _texts(db) == [f"note {i}" for i in range(8) if i != 3]


async def test_a_write_the_database_refuses_fails_alone(db: Database) -> None:
    await db.write(_add("taken"))
    results = await _behind_gate(db, [_add("first"), _add("taken"), _add("last")])
    assert isinstance(results[1], sa.exc.IntegrityError)
    assert await _texts(db) == ["first", "last", "taken"]


async def test_waiting_writes_share_one_transaction(db: Database, tmp_path: Path) -> None:
    committed: list[int] = []
    outside = sqlite3.connect(tmp_path / "group.sqlite", check_same_thread=False)

    def note(conn: Connection) -> None:
        # the notes others can see when this write starts: those committed before it
        committed.append(outside.execute("SELECT count(*) FROM notes").fetchone()[0])
        conn.execute(sa.insert(NOTES).values(text=f"n{len(committed)}"))

    try:
        await _behind_gate(db, [note] * (GROUP_MAX + 2))
    finally:
        outside.close()
    assert len(await _texts(db)) == GROUP_MAX + 2
    # the first GROUP_MAX writes were one transaction, committed together; then the rest
    assert committed == [0] * GROUP_MAX + [GROUP_MAX] * 2


async def test_each_caller_sees_its_own_write_committed(db: Database) -> None:
    async def write_then_read(i: int) -> bool:
        await db.write(_add(f"mine {i}"))
        return f"mine {i}" in await _texts(db)

    assert all(await asyncio.gather(*(write_then_read(i) for i in range(30))))


async def test_a_cancelled_caller_s_write_still_lands(db: Database) -> None:
    gate = _Gate()
    held = asyncio.ensure_future(db.write(gate))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    waiting = asyncio.ensure_future(db.write(_add("sent before the reader left")))
    await asyncio.sleep(0)
    waiting.cancel()
    gate.opened.set()
    await held
    with pytest.raises(asyncio.CancelledError):
        await waiting
    for _ in range(100):
        if await _texts(db):
            break
        await asyncio.sleep(0.01)
    assert await _texts(db) == ["sent before the reader left"]


async def test_a_peek_sees_every_write_committed_before_it(db: Database) -> None:
    def count(conn: Connection) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(NOTES)).scalar_one())

    assert await db.peek(count) == 0
    for i in range(1, 4):
        await db.write(_add(f"note {i}"))
        assert await db.peek(count) == i  # its snapshot is not kept from the last peek


async def test_peeks_from_two_threads_at_once_both_answer(db: Database) -> None:
    await db.write(_add("shared"))
    inside = threading.Event()
    leave = threading.Event()

    def slow(conn: Connection) -> list[str]:
        inside.set()
        assert leave.wait(10)
        return list(conn.execute(sa.select(NOTES.c.text)).scalars())

    def other_thread() -> list[str]:
        return asyncio.run(db.peek(slow))

    first = asyncio.ensure_future(asyncio.to_thread(other_thread))
    assert await asyncio.to_thread(inside.wait, 10)
    # the peek connection is busy in the other thread: this one reads through a reader
    assert await db.peek(lambda conn: list(conn.execute(sa.select(NOTES.c.text)).scalars())) == [
        "shared"
    ]
    leave.set()
    assert await first == ["shared"]
