"""Everything a service needs, built once per process: settings, database, cache, keys,
and what ties the processes together (the bus, shared limits) and feeds live streams."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kibitz.bus import Bus, LocalBus, RedisBus
from kibitz.cache import (
    AnnouncedGenerations,
    Generations,
    LocalGenerations,
    ResponseCache,
    SharedGenerations,
)
from kibitz.db.engine import Database
from kibitz.live.hub import Hub
from kibitz.live.slots import LocalSlots, RedisSlots, StreamSlots
from kibitz.ratelimit import RATE_LIMITS, Limiter, RateLimiter, RedisRateLimiter
from kibitz.security import Signer
from kibitz.settings import Settings, parse_rate_overrides


@dataclass
class Kibitz:
    settings: Settings
    db: Database
    cache: ResponseCache
    signer: Signer
    limiter: Limiter = field(repr=False)
    bus: Bus = field(default_factory=LocalBus, repr=False)
    hub: Hub | None = field(default=None, repr=False)
    slots: StreamSlots = field(default_factory=lambda: LocalSlots(20), repr=False)
    # set by a worker running in this process, so that new work is taken up at once
    wake_worker: Callable[[], None] = field(default=lambda: None, repr=False)

    def __post_init__(self) -> None:
        self._hub_stop = asyncio.Event()
        self._hub_task: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, settings: Settings) -> Kibitz:
        s = settings
        limits = {**RATE_LIMITS, **parse_rate_overrides(s.rate_limits)}
        db = Database(s.database_url, pool_size=s.db_pool_size)
        cache = ResponseCache(max_bytes=s.cache_max_bytes, max_age=s.cache_max_age_seconds)
        lease = 3 * s.live_heartbeat_seconds
        watch = None  # without Redis, other local processes' changes show in the shared file
        bus: Bus
        limiter: Limiter
        slots: StreamSlots
        if s.redis_url:
            announced = AnnouncedGenerations(lambda: bus.trusted())

            def reconnected() -> None:
                announced.new_epoch()
                cache.forget()
                hub.changed_all()

            bus = RedisBus(s.redis_url, s.redis_prefix, stale_after=s.redis_stale_seconds,
                           on_change=cache.changed, on_connect=reconnected)  # fmt: skip
            assert bus.redis is not None
            cache.generations = announced
            cache.announce = bus.announce
            limiter = RedisRateLimiter(limits, bus.redis, s.redis_prefix)
            slots = RedisSlots(bus.redis, s.redis_prefix, s.live_streams_per_client, lease)
        else:
            bus = LocalBus()
            generations = _generations(db)
            cache.generations = generations
            if isinstance(generations, SharedGenerations):
                watch = generations.get
            limiter = RateLimiter(limits)
            slots = LocalSlots(s.live_streams_per_client, lease)
        hub = Hub(db, watch=watch, check_seconds=5.0, retention_seconds=s.live_retention_seconds)
        cache.listeners.append(hub.changed)
        return cls(settings=s, db=db, cache=cache, signer=Signer(s.effective_secret),
                   limiter=limiter, bus=bus, hub=hub, slots=slots)  # fmt: skip

    async def start(self) -> None:
        """Start what a serving process runs beside its requests: the bus and the hub."""
        await self.bus.start()
        if self.hub is not None:
            self._hub_task = asyncio.create_task(self.hub.run(self._hub_stop))

    async def close(self) -> None:
        if self.hub is not None:
            self.hub.close_all()
        self._hub_stop.set()
        if self._hub_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._hub_task
        await self.bus.stop()
        await self.db.dispose()


def _generations(db: Database) -> Generations:
    """Shared by every process using the same database on this machine."""
    if db.is_sqlite:
        name = db.url.database
        if not name or name == ":memory:":
            return LocalGenerations()
        return SharedGenerations(Path(name).resolve().with_name(Path(name).name + "-kibitz.gen"))
    digest = hashlib.sha256(db.url.render_as_string(hide_password=False).encode()).hexdigest()
    return SharedGenerations(Path(tempfile.gettempdir()) / f"kibitz-{digest[:16]}.gen")
