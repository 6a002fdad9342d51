"""The threads that have event streams open in this process, and the streams themselves.

Each watched thread has one feed. When the thread changes (a write here, an announcement
from another process, or a change noticed by the checks below), the feed reads the events
after the last one it delivered from the database, once, and hands the same encoded frames
to every stream of the thread, in order. A stream that falls too far behind is closed; its
browser reconnects and resumes from the database with Last-Event-ID.

Nothing here depends on announcements arriving: every ``check_seconds`` the hub compares
the event numbers of its watched threads with the database, so an event whose announcement
was lost is delivered at most that much later. Without Redis, processes that share one
machine's cache generations file see each other's changes by watching it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Connection

from kibitz.db.engine import Database
from kibitz.live import events

log = logging.getLogger("kibitz.live")

MAX_BACKLOG = 1000  # frames waiting for one slow stream before it is closed
READ_BATCH = 500


def _since(conn: Connection, *, key: str, after: int) -> list[events.Event]:
    return events.since(conn, key, after, READ_BATCH)


class Subscriber:
    """One open stream: the frames it has yet to send."""

    __slots__ = ("closed", "frames", "wake")

    def __init__(self) -> None:
        self.frames: deque[tuple[int, bytes]] = deque()
        self.wake = asyncio.Event()
        self.closed = False

    def push(self, seq: int, frame: bytes) -> None:
        if self.closed:
            return
        if len(self.frames) >= MAX_BACKLOG:
            self.close()  # it will resume from the database
            return
        self.frames.append((seq, frame))
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class Feed:
    __slots__ = ("dirty", "generation", "key", "seq", "subscribers", "task")

    def __init__(self, key: str, seq: int, generation: int | None) -> None:
        self.key = key
        self.seq = seq  # the newest event handed to the subscribers
        self.subscribers: set[Subscriber] = set()
        self.dirty = False
        self.task: asyncio.Task[None] | None = None
        self.generation = generation


class Hub:
    def __init__(
        self,
        db: Database,
        *,
        watch: Callable[[str], int | None] | None = None,
        check_seconds: float = 5.0,
        retention_seconds: float = 7 * 24 * 3600,
    ) -> None:
        self.db = db
        self.feeds: dict[str, Feed] = {}
        self.open = 0
        self.delivered = 0
        self._watch = watch
        self._check_seconds = check_seconds
        self._retention = timedelta(seconds=retention_seconds)

    def subscribe(self, key: str, seq: int) -> Subscriber:
        """A new stream of ``key``, whose log stood at ``seq`` when the stream looked."""
        feed = self.feeds.get(key)
        if feed is None:
            generation = self._watch(key) if self._watch else None
            feed = self.feeds[key] = Feed(key, seq, generation)
        subscriber = Subscriber()
        feed.subscribers.add(subscriber)
        self.open += 1
        return subscriber

    def unsubscribe(self, key: str, subscriber: Subscriber) -> None:
        feed = self.feeds.get(key)
        if feed is None or subscriber not in feed.subscribers:
            return
        feed.subscribers.discard(subscriber)
        self.open -= 1
        if not feed.subscribers:
            del self.feeds[key]

    def changed(self, key: str) -> None:
        feed = self.feeds.get(key)
        if feed is not None:
            self._poke(feed)

    def changed_all(self) -> None:
        for feed in list(self.feeds.values()):
            self._poke(feed)

    def close_all(self) -> None:
        for feed in list(self.feeds.values()):
            for subscriber in list(feed.subscribers):
                subscriber.close()

    def _poke(self, feed: Feed) -> None:
        feed.dirty = True
        if feed.task is None:
            feed.task = asyncio.get_running_loop().create_task(self._pump(feed))

    async def _pump(self, feed: Feed) -> None:
        try:
            while feed.dirty:
                feed.dirty = False
                after = feed.seq
                try:
                    batch = await self.db.read(partial(_since, key=feed.key, after=after))
                except Exception:  # the database is away: try again, streams stay open
                    log.exception("cannot read the events of %s", feed.key)
                    await asyncio.sleep(1.0)
                    feed.dirty = True
                    continue
                for event in batch:
                    frame = event.frame()
                    for subscriber in list(feed.subscribers):
                        subscriber.push(event.seq, frame)
                    self.delivered += len(feed.subscribers)
                    feed.seq = event.seq
                if len(batch) == READ_BATCH:
                    feed.dirty = True
        finally:
            feed.task = None

    async def run(self, stop: asyncio.Event, tick: float = 0.25) -> None:
        """Watch for changes that no one announced, and prune old events."""
        next_check = time.monotonic() + self._check_seconds
        next_prune = time.monotonic() + random.uniform(10, 60)  # noqa: S311 (spreads load)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            now = time.monotonic()
            try:
                if self._watch is not None:
                    self._watch_generations()
                if now >= next_check:
                    next_check = now + self._check_seconds
                    await self.check()
                if now >= next_prune:
                    next_prune = now + random.uniform(1800, 3600)  # noqa: S311
                    await self.prune()
            except Exception:  # keep watching; the next round tries again
                log.exception("live hub maintenance failed")

    def _watch_generations(self) -> None:
        assert self._watch is not None
        for feed in list(self.feeds.values()):
            generation = self._watch(feed.key)
            if generation != feed.generation:
                feed.generation = generation
                self._poke(feed)

    async def check(self) -> None:
        """Catch up every watched thread whose log moved on without a word to this process."""
        keys = list(self.feeds)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            newest = await self.db.read(partial(events.positions, keys=chunk))
            for key, seq in newest.items():
                feed = self.feeds.get(key)
                if feed is not None and seq > feed.seq:
                    self._poke(feed)

    async def prune(self) -> int:
        before = datetime.now(UTC) - self._retention
        pruned = await self.db.write(lambda conn: events.prune(conn, before))
        if pruned:
            log.info("pruned %d events older than %s", pruned, before.isoformat())
        return pruned
