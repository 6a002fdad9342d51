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
  The writes that wait for the writer thread commit together (group commit): one
  transaction, one lock and one commit for all of them, each write in a savepoint of its
  own so that one that raises rolls back alone. A write lock held per write was the
  ceiling on posting with 2 workers: most of the time it was held went to waiting for the
  GIL between statements, while the event loop thread ran other requests. Taken together,
  the posts of the benchmark (32 connections) went from 360-575 to 675-715 a second with 2
  workers and from 225-385 to 460-480 with 1, votes from 620-815 to 1,420-1,530 (2026-11-27).
- PostgreSQL: an asyncpg pool; the function runs on the event loop through SQLAlchemy's
  greenlet bridge, without blocking it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import os
import threading
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
            # writes waiting for the writer thread, taken together (``_commit_waiting``)
            self._waiting: collections.deque[_Write[Any]] = collections.deque()
            self._read_threads = ThreadPoolExecutor(threads, thread_name_prefix="kibitz-sqlite-r")
            # ``peek``'s connection, opened on first use and kept by the thread that uses it
            self._peeker = _sqlite_engine(self.url, writer=False, size=1)
            self._peek_conn: Connection | None = None
            self._peek_lock = threading.Lock()
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
            return await self._in_thread(self._read_threads, self.readers, fn)
        assert self.pool is not None
        async with self.pool.connect() as conn:
            return await conn.run_sync(fn)

    async def peek(self, fn: Callable[[Connection], T]) -> T:
        """Like ``read``, for a read of a few rows found by key (one thread's settings, a
        reader's ban). On SQLite it runs right here, on the event loop's own connection: the
        hop to a reader thread and back costs more than such a read (in-process, a post's
        two lookups took 480 µs of CPU through a reader thread, 145 µs here). A read that
        scans or returns many rows blocks the loop here: give it to ``read``."""
        if self.readers is None or not self._peek_lock.acquire(blocking=False):
            return await self.read(fn)  # PostgreSQL; or another thread is peeking
        try:
            if self._peek_conn is None:
                self._peek_conn = self._peeker.connect()
            with self._peek_conn.begin() as tx:
                result = fn(self._peek_conn)
                tx.rollback()
                return result
        finally:
            self._peek_lock.release()

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a transaction that commits if it returns and rolls back if it raises.

        On SQLite it shares the transaction with the other writes waiting for the writer
        thread, in a savepoint of its own; it has its answer once all of them are committed.
        A write whose caller is cancelled once it is waiting still runs."""
        if self.writer is not None:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[T] = loop.create_future()
            self._waiting.append((fn, done, loop))
            self._write_thread.submit(self._commit_waiting)
            return await done
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
        pool: ThreadPoolExecutor, engine: Engine, fn: Callable[[Connection], T]
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, functools.partial(_read_transaction, engine, fn))

    def _commit_waiting(self) -> None:
        """On the writer thread: the writes waiting, up to ``GROUP_MAX``, in one transaction
        (group commit). Each runs in a savepoint of its own, so one that raises is rolled
        back alone and the others commit; every caller hears back once all are committed."""
        group: list[_Write[Any]] = []
        while self._waiting and len(group) < GROUP_MAX:
            group.append(self._waiting.popleft())
        if not group:
            return  # an earlier call took them
        assert self.writer is not None
        outcomes = _group_transaction(self.writer, group, self._write_queue)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for write, outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(write[2], []).append(outcome)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, settled)

    async def dispose(self) -> None:
        if self.pool is not None:
            await self.pool.dispose()
        for engine in (self.writer, self.readers):
            if engine is not None:
                engine.dispose()
        if self.is_sqlite:
            with self._peek_lock:
                if self._peek_conn is not None:
                    self._peek_conn.close()
                    self._peek_conn = None
            self._peeker.dispose()
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


def _read_transaction(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.connect() as conn, conn.begin() as tx:
        result = fn(conn)
        tx.rollback()
        return result


# the most writes committed together: a few milliseconds of work, so that the first of a
# group does not wait long for the rest (one worker under the benchmark's 32 posting
# connections: most groups were full, 11 to 16 writes on average, 2026-11-27)
GROUP_MAX = 16

# a write waiting for the writer thread: its function, its caller's future and event loop
_Write = tuple[Callable[[Connection], T], "asyncio.Future[T]", asyncio.AbstractEventLoop]
# what a caller hears: its future, and the result or the exception
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _group_transaction(
    engine: Engine, group: list[_Write[Any]], queue: _WriterQueue
) -> list[_Outcome]:
    """Run the group's writes in one transaction, each but a lone one in a savepoint of its
    own; what each returned or raised, in order."""
    outcomes: list[_Outcome] = []
    try:
        with queue.held(), engine.connect() as conn, conn.begin():
            if len(group) == 1:
                fn, done, _ = group[0]
                outcomes.append((done, fn(conn), None))
            else:
                # SQLite's own savepoints, on the driver's connection: through SQLAlchemy
                # (``begin_nested``) each cost a statement's overhead twice per write
                raw = conn.connection.driver_connection
                assert raw is not None
                for fn, done, _ in group:
                    raw.execute("SAVEPOINT kibitz_write")
                    try:
                        result = fn(conn)
                    except Exception as exc:
                        raw.execute("ROLLBACK TO kibitz_write")
                        raw.execute("RELEASE kibitz_write")
                        outcomes.append((done, None, exc))
                    else:
                        raw.execute("RELEASE kibitz_write")
                        outcomes.append((done, result, None))
    except BaseException as exc:  # nothing was committed: every write of the group failed
        return [(done, None, exc) for _, done, _ in group]
    return outcomes


def _settle(outcomes: list[_Outcome]) -> None:
    for done, result, exc in outcomes:
        if done.done():  # its caller was cancelled: the write went ahead all the same
            continue
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(result)


def _plain(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        result = fn(conn)
        conn.commit()
        return result
