"""Everything a service needs, built once per process: settings, database, cache, keys."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kibitz.cache import Generations, LocalGenerations, ResponseCache, SharedGenerations
from kibitz.db.engine import Database
from kibitz.ratelimit import RATE_LIMITS, RateLimiter
from kibitz.security import Signer
from kibitz.settings import Settings, parse_rate_overrides


@dataclass
class Kibitz:
    settings: Settings
    db: Database
    cache: ResponseCache
    signer: Signer
    limiter: RateLimiter = field(repr=False)
    # set by a worker running in this process, so that new work is taken up at once
    wake_worker: Callable[[], None] = field(default=lambda: None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Kibitz:
        limits = {**RATE_LIMITS, **parse_rate_overrides(settings.rate_limits)}
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        return cls(
            settings=settings,
            db=db,
            cache=ResponseCache(max_bytes=settings.cache_max_bytes, generations=_generations(db)),
            signer=Signer(settings.effective_secret),
            limiter=RateLimiter(limits),
        )

    async def close(self) -> None:
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
