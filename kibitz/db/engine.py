"""Where every query runs: ``await db.read(fn)`` and ``await db.write(fn)``.

Services write their SQL as plain synchronous functions of a SQLAlchemy ``Connection``;
this module decides where they run:

- SQLite: on dedicated threads that each keep their connection, one writer thread and a
  few reader threads. A whole request's queries run in one hop to that thread. (Driving
  SQLite through an async driver costs a thread hop per statement and per fetch; measured
  here on a 200-comment thread that was 4.8 ms a page against 1.0 ms.) Writes take the lock
  up front (``BEGIN IMMEDIATE``), so two writers never deadlock upgrading a read lock, and
  WAL lets readers go on while the writer writes. The writers of all the processes on a
  database file (``kibitz serve --workers N``, the CLI) first queue on a lock file beside
  it (``flock``): SQLite's own busy handler polls with sleeps of 1 to 100 ms, so a writer
  that found the database locked slept on after it was free (2 workers posting: the
  slowest 1% of posts waited 2.4 s); the kernel wakes the next writer as soon as the last
  one commits (0.46 s).
- PostgreSQL: an asyncpg pool; the function runs on the event loop through SQLAlchemy's
  greenlet bridge, without blocking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

T = TypeVar("T")


def sync_url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite")
    return url


def async_url(database_url: str) -> URL:
    """Map a plain PostgreSQL URL onto the async driver kibitz uses for it."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        return url.set(drivername="postgresql+asyncpg")
    return url


def _sqlite_engine(url: URL, *, writer: bool, size: int) -> Engine:
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=size,
        max_overflow=0,
        # every use ends its transaction itself (``_transaction``): no ROLLBACK on return,
        # which on the writer is one more call, made while other writers wait
        pool_reset_on_return=None,
        connect_args={"check_same_thread": False, "timeout": 10},
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy, not the driver, decides when transactions begin
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 8 MB of pages per connection (three a process): what is not cached comes from the
        # operating system's file cache. With 32 MB, a one-worker server peaked at 156 MB
        # in the benchmark; with 8 MB, at 150 MB, reading and writing as fast (2026-11-27)
        cur.execute("PRAGMA cache_size=-8000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


class Database:
    def __init__(self, database_url: str, *, pool_size: int = 4) -> None:
        self.is_sqlite = make_url(database_url).get_backend_name() == "sqlite"
        self.readers: Engine | None = None
        self.writer: Engine | None = None
        self.pool: AsyncEngine | None = None
        if self.is_sqlite:
            self.url = sync_url(database_url)
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            # readers compete for one GIL: more than two threads only adds contention
            threads = max(1, min(pool_size, 2))
            self.writer = _sqlite_engine(self.url, writer=True, size=1)
            self.readers = _sqlite_engine(self.url, writer=False, size=threads)
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="kibitz-sqlite-w")
            self._write_queue = _WriterQueue(self.url.database)
            self._read_threads = ThreadPoolExecutor(threads, thread_name_prefix="kibitz-sqlite-r")
        else:
            self.url = async_url(database_url)
            self.pool = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read transaction (one consistent snapshot)."""
        if self.readers is not None:
            return await self._in_thread(self._read_threads, self.readers, fn, commit=False)
        assert self.pool is not None
        async with self.pool.connect() as conn:
            return await conn.run_sync(fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a transaction that commits if it returns and rolls back if it raises."""
        if self.writer is not None:
            return await self._in_thread(
                self._write_thread, self.writer, fn, commit=True, queue=self._write_queue
            )
        assert self.pool is not None
        async with self.pool.begin() as conn:
            return await conn.run_sync(fn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on a connection that manages its own transactions (migrations)."""
        if self.writer is not None:
            engine = create_engine(self.url)
            try:
                return await asyncio.to_thread(_plain, engine, fn)
            finally:
                engine.dispose()
        assert self.pool is not None
        async with self.pool.connect() as conn:
            result = await conn.run_sync(fn)
            await conn.commit()
            return result

    @staticmethod
    async def _in_thread(
        pool: ThreadPoolExecutor, engine: Engine, fn: Callable[[Connection], T], *, commit: bool,
        queue: _WriterQueue | None = None,
    ) -> T:  # fmt: skip
        loop = asyncio.get_running_loop()
        work = functools.partial(_transaction, engine, fn, commit, queue)
        return await loop.run_in_executor(pool, work)

    async def dispose(self) -> None:
        if self.pool is not None:
            await self.pool.dispose()
        for engine in (self.writer, self.readers):
            if engine is not None:
                engine.dispose()
        if self.is_sqlite:
            self._write_queue.close()
            self._write_thread.shutdown(wait=False)
            self._read_threads.shutdown(wait=False)


class _WriterQueue:
    """An exclusive ``flock`` on ``<database>-writers``, held around each write
    transaction of this process; none for an in-memory database."""

    def __init__(self, database: str | None) -> None:
        self._fd: int | None = None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._fd = os.open(f"{database}-writers", os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _transaction(
    engine: Engine, fn: Callable[[Connection], T], commit: bool, queue: _WriterQueue | None
) -> T:
    with (
        queue.held() if queue else contextlib.nullcontext(),
        engine.connect() as conn,
        conn.begin() as tx,
    ):
        result = fn(conn)
        if not commit:
            tx.rollback()
        return result


def _plain(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        result = fn(conn)
        conn.commit()
        return result
