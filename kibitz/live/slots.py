"""How many event streams one client (a keyed hash of its address) may hold open.

In memory for one process (``LocalSlots``). With Redis, every process counts in one sorted
set per client (``RedisSlots``): each open stream holds a lease that its heartbeat renews,
so a process that dies without closing its streams frees their slots when the leases run
out instead of blocking its clients for good. While Redis is away, each process counts on
its own again.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from kibitz.bus import redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis


log = logging.getLogger("kibitz.live")


class StreamSlots(Protocol):
    per_client: int

    async def acquire(self, client: str) -> str | None:
        """A token for one more stream of ``client``, or None when it has all it may hold."""

    async def renew(self, client: str, token: str) -> None: ...

    async def release(self, client: str, token: str) -> None: ...


class LocalSlots:
    """Leases in memory: a stream that never got to release its slot frees it in time."""

    def __init__(
        self,
        per_client: int,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self._lease = lease_seconds
        self._clock = clock
        self._held: dict[str, dict[str, float]] = {}

    async def acquire(self, client: str) -> str | None:
        now = self._clock()
        held = self._held.setdefault(client, {})
        for token in [t for t, until in held.items() if until <= now]:
            del held[token]
        if len(held) >= self.per_client:
            return None
        token = uuid.uuid4().hex
        held[token] = now + self._lease
        return token

    async def renew(self, client: str, token: str) -> None:
        held = self._held.get(client)
        if held is not None and token in held:
            held[token] = self._clock() + self._lease

    async def release(self, client: str, token: str) -> None:
        held = self._held.get(client)
        if held is not None:
            held.pop(token, None)
            if not held:
                del self._held[client]


_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""


class RedisSlots:
    def __init__(self, redis: Redis, prefix: str, per_client: int, lease_seconds: float) -> None:
        self.per_client = per_client
        self._redis = redis
        self._prefix = f"{prefix}streams:"
        self._lease_ms = int(lease_seconds * 1000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._fallback = LocalSlots(per_client, lease_seconds)
        self._local_tokens: set[str] = set()

    async def acquire(self, client: str) -> str | None:
        token = uuid.uuid4().hex
        try:
            ok = await self._acquire(
                keys=[self._prefix + client], args=[self.per_client, self._lease_ms, token]
            )
        except redis_down() as exc:
            log.warning("stream limits counted per process while Redis is away: %s", exc)
            local = await self._fallback.acquire(client)
            if local is not None:
                self._local_tokens.add(local)
            return local
        return token if ok else None

    async def renew(self, client: str, token: str) -> None:
        if token in self._local_tokens:
            await self._fallback.renew(client, token)
            return
        # on failure the lease runs out by itself; the stream keeps going
        with contextlib.suppress(*redis_down()):
            await self._renew(keys=[self._prefix + client], args=[self._lease_ms, token])

    async def release(self, client: str, token: str) -> None:
        if token in self._local_tokens:
            self._local_tokens.discard(token)
            await self._fallback.release(client, token)
            return
        with contextlib.suppress(*redis_down()):  # else the lease runs out by itself
            await self._redis.zrem(self._prefix + client, token)
