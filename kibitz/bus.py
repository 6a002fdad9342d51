"""How kibitz processes tell each other that a thread changed.

One process (the default) needs nothing: ``LocalBus``. Several processes on one machine
without Redis share the cache generations file (kibitz/cache.py), and their event streams
notice changes by watching it (kibitz/live/hub.py). With ``KIBITZ_REDIS_URL``, ``RedisBus``
publishes every change on one pub/sub channel that every process subscribes to; each
process then drops its cached pages of that thread and its streams read the new events
from the database.

Only "thread X changed" travels over Redis; the events themselves are in the database
(kibitz/live/events.py). So a message lost while Redis is down loses nothing: after a
reconnect every process forgets its cache and has its streams catch up from the database.

Why redis-py's asyncio client and not Litestar channels: channels hides its connection, so
a process could not know when to stop trusting its cache or when to catch up after an
outage; while Redis is down its publisher retries one message at a time and queues the rest
in memory without bound; and its per-subscriber queues would copy each event to every
stream, where the hub shares one encoded frame among all of a thread's streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("kibitz.bus")


class Bus(Protocol):
    @property
    def redis(self) -> Redis | None:
        """The client the shared limits use too (None without Redis)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def announce(self, scope: str) -> None: ...

    def trusted(self) -> bool:
        """Whether every announcement made by another process is known to reach this one."""

    async def ping(self) -> bool: ...


class LocalBus:
    """One process, or several sharing one machine's generations file: nothing to send."""

    redis: Redis | None = None

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to close."""

    def announce(self, scope: str) -> None:
        """The generations file already told this machine's processes; no one else listens."""

    def trusted(self) -> bool:
        return True

    async def ping(self) -> bool:
        return True


def redis_down() -> tuple[type[BaseException], ...]:
    """What a Redis command raises when Redis cannot be reached. The redis package (6 MB of
    memory in every worker) is imported with the first client: a site without Redis never
    loads it."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def connect(url: str, *, timeout: float = 2.0) -> Redis:
    """A client that fails fast: a request must never hang on a Redis that does not answer."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # one immediate retry: enough for a pooled connection that died with a restarted Redis
    client: Redis = Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=0,
        retry=Retry(NoBackoff(), 1),
    )  # fmt: skip
    return client


class RedisBus:
    """Announcements over one Redis pub/sub channel, with a liveness bound.

    ``stale_after``: how long after it last heard from Redis a process still trusts that
    it receives every announcement. The subscriber pings Redis four times per period, so a
    healthy connection is never stale; a dead or silent one is noticed within the period.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        stale_after: float,
        on_change: Callable[[str], None],
        on_connect: Callable[[], None],
    ) -> None:
        self.url = url
        self.channel = f"{prefix}changes"
        self.stale_after = stale_after
        self.redis: Redis = connect(url)
        self._on_change = on_change
        self._on_connect = on_connect
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._heard = -1e9
        self._subscribed = False
        self._backoff = 0.05
        self._outgoing: dict[str, None] = {}  # scopes to announce, in order, deduplicated
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected_at = 0.0
        self.reconnects = 0
        self.failed_publishes = 0

    def trusted(self) -> bool:
        return self._subscribed and time.monotonic() - self._heard < self.stale_after

    def announce(self, scope: str) -> None:
        self._outgoing[scope] = None
        self._wake.set()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except redis_down():
            return False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._subscribe_forever(), name="kibitz-bus-subscriber"),
            asyncio.create_task(self._publish_forever(), name="kibitz-bus-publisher"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._outgoing:  # announce what is left once (also: a command run from the shell)
            with contextlib.suppress(*redis_down()):
                for scope in self._outgoing:
                    await self.redis.publish(self.channel, f"{self._origin}\n{scope}".encode())
        await self.redis.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    async def _publish_forever(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outgoing:
                scopes = list(self._outgoing)
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for scope in scopes:
                            pipe.publish(self.channel, f"{self._origin}\n{scope}".encode())
                        await pipe.execute()
                except redis_down() as exc:
                    self.failed_publishes += 1
                    log.warning("cannot announce changes to Redis (will retry): %s", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.05
                for scope in scopes:
                    self._outgoing.pop(scope, None)

    async def _subscribe_forever(self) -> None:
        self._backoff = 0.05
        while True:
            pubsub = self.redis.pubsub()
            try:
                await self._listen(pubsub)
            except redis_down() as exc:
                if self._subscribed:
                    log.warning("lost Redis; caches bypassed until it is back: %s", exc)
            finally:
                self._subscribed = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, 1.0)

    async def _listen(self, pubsub: Any) -> None:
        await pubsub.subscribe(self.channel)
        interval = self.stale_after / 4
        next_ping = time.monotonic() + interval
        while True:
            message = await pubsub.get_message(timeout=interval)
            now = time.monotonic()
            if message is not None:
                silent = now - self._heard >= self.stale_after
                self._heard = now
                kind = message["type"]
                if kind == "subscribe" and not self._subscribed:
                    # announcements made while we were away are lost: start afresh
                    self._subscribed = True
                    self._backoff = 0.05
                    self.connected_at = now
                    self.reconnects += 1
                    log.info("listening for changes on Redis channel %s", self.channel)
                    self._on_connect()
                elif silent and self._subscribed:
                    log.warning("Redis answers again after %.1f s of silence", self.stale_after)
                    self._on_connect()
                if kind == "message":
                    origin, _, scope = message["data"].decode().partition("\n")
                    if origin != self._origin:
                        self._on_change(scope)
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + interval
