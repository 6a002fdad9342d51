"""Abuse limits: one readable table, enforced per keyed IP hash and per voter cookie.

The per-IP limits are deliberately generous (ten times the per-reader ones) so that readers
behind one address (an office, a mobile carrier's NAT) are never blocked by each other; the
per-voter limits stop one browser from flooding.

One process counts in memory (``RateLimiter``); several processes count in Redis
(``RedisRateLimiter``, the same sliding window in one Lua script, so every process sees the
same counts). While Redis cannot be reached, each process counts on its own again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kibitz.bus import redis_down

if TYPE_CHECKING:
    from redis.asyncio import Redis


log = logging.getLogger("kibitz.ratelimit")

# name: (requests, per seconds)
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "comment.voter": (5, 60),
    "comment.ip": (50, 60),
    "edit.voter": (20, 60),
    "edit.ip": (200, 60),
    "vote.voter": (30, 60),
    "vote.ip": (300, 60),
    "subscribe.voter": (10, 3600),
    "subscribe.ip": (100, 3600),
    "subscribe.email": (3, 3600),
    "preview.voter": (60, 60),
    "preview.ip": (600, 60),
    # donations: opening a payment page is what card testers script, so it is tight
    "checkout.voter": (5, 600),
    "checkout.ip": (20, 3600),
    "checkout.site": (300, 3600),
    "donor_link.ip": (10, 3600),
    "donor_link.email": (3, 3600),
    # moderation: reader reports, moderators' log-ins, reader-rights requests
    "report.voter": (10, 3600),
    "report.ip": (100, 3600),
    "login.ip": (20, 900),
    "login.account": (5, 900),
    "rights.ip": (10, 3600),
    "rights.email": (3, 3600),
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class Limiter(Protocol):
    limits: dict[str, tuple[int, int]]

    async def check(self, checks: list[tuple[str, str | None]]) -> Verdict:
        """Count one request against every (limit, subject); deny if any limit is exceeded."""


class RateLimiter:
    """Sliding-window (two fixed windows, weighted) counters held in this process.

    Each key costs two integers; the oldest keys are dropped past ``max_keys``.
    """

    def __init__(
        self,
        limits: dict[str, tuple[int, int]],
        *,
        clock: Callable[[], float] = time.time,
        max_keys: int = 200_000,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._max_keys = max_keys
        # (limit name, subject) -> (window start, count in window, count in previous window)
        self._counters: OrderedDict[tuple[str, str], tuple[int, int, int]] = OrderedDict()

    def hit(self, name: str, subject: str) -> Verdict:
        allowed, per = self.limits[name]
        now = self._clock()
        window = int(now // per) * per
        key = (name, subject)
        start, current, previous = self._counters.get(key, (window, 0, 0))
        if start != window:
            previous = current if start == window - per else 0
            current = 0
            start = window
        weight = 1 - (now - window) / per
        estimate = current + previous * weight
        if estimate + 1 > allowed:
            self._counters[key] = (start, current, previous)
            if previous and current < allowed:
                # wait until the previous window's share has decayed enough
                needed = (estimate + 1 - allowed) / previous * per
                wait = needed
            else:
                wait = window + per - now
            return Verdict(False, max(1, math.ceil(wait)))
        self._counters[key] = (start, current + 1, previous)
        self._counters.move_to_end(key)
        while len(self._counters) > self._max_keys:
            self._counters.popitem(last=False)
        return Verdict(True)

    async def check(self, checks: list[tuple[str, str | None]]) -> Verdict:
        """Count one request against every (limit, subject); deny if any limit is exceeded."""
        return _worst(self.hit(name, subject) for name, subject in checks if subject is not None)


def _worst(verdicts: Iterable[Verdict]) -> Verdict:
    worst = Verdict(True)
    for verdict in verdicts:
        if not verdict.allowed and verdict.retry_after >= worst.retry_after:
            worst = verdict
    return worst


# The same sliding window as RateLimiter.hit, atomically, on Redis's clock (so processes on
# machines whose clocks differ still agree). ARGV: prefix, then name, subject, allowed, per
# for each check. Keys share a hash tag per counter.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i = 2, #ARGV, 4 do
  local base = ARGV[1] .. 'rl:{' .. ARGV[i] .. ':' .. ARGV[i + 1] .. '}:'
  local allowed = tonumber(ARGV[i + 2])
  local per = tonumber(ARGV[i + 3])
  local window = math.floor(now / per) * per
  local current = tonumber(redis.call('GET', base .. window) or '0')
  local previous = tonumber(redis.call('GET', base .. (window - per)) or '0')
  local estimate = current + previous * (1 - (now - window) / per)
  if estimate + 1 > allowed then
    local wait = window + per - now
    if previous > 0 and current < allowed then
      wait = (estimate + 1 - allowed) / previous * per
    end
    table.insert(out, math.max(1, math.ceil(wait)))
  else
    redis.call('INCR', base .. window)
    redis.call('EXPIRE', base .. window, per * 2 + 1)
    table.insert(out, 0)
  end
end
return out
"""


class RedisRateLimiter:
    """The limits counted in Redis, shared by every process; in memory while Redis is away."""

    def __init__(self, limits: dict[str, tuple[int, int]], redis: Redis, prefix: str) -> None:
        self.limits = limits
        self.prefix = prefix
        self._script = redis.register_script(_SCRIPT)
        self._fallback = RateLimiter(limits)
        self.failures = 0

    async def check(self, checks: list[tuple[str, str | None]]) -> Verdict:
        wanted: list[tuple[str, str | None]] = [(n, s) for n, s in checks if s is not None]
        if not wanted:
            return Verdict(True)
        args: list[str | int] = [self.prefix]
        for name, subject in wanted:
            allowed, per = self.limits[name]
            args += [name, subject or "", allowed, per]
        try:
            waits = await self._script(keys=[], args=args)
        except redis_down() as exc:
            self.failures += 1
            log.warning("rate limits counted per process while Redis is away: %s", exc)
            return await self._fallback.check(wanted)
        return _worst(Verdict(False, int(w)) if int(w) else Verdict(True) for w in waits)


def rate_limits_markdown() -> str:
    lines = [
        "# Rate limits",
        "",
        "Generated from `kibitz/ratelimit.py`; override with `KIBITZ_RATE_LIMITS`",
        "(e.g. `comment.voter=5/60,vote.ip=300/60`). A request over a limit gets HTTP 429",
        "with a `Retry-After` header. `ip` limits count a keyed hash of the address (the raw",
        "address is never stored); `voter` limits count the reader's signed cookie.",
        "",
        "The per-reader (`voter`) limit needs the cookie: a client that sends none (a script,",
        "a browser refusing cookies) gets a new one with every answer, so only its `ip` limit",
        "binds. That is why the `ip` limits, though generous enough for readers who share an",
        "address, are there at all.",
        "",
        "The keyed IP hash is kept with each comment and report for one more purpose, a",
        'deliberate exception to "only for rate limits": a moderator may ban the address a',
        "comment came from (`kibitz/services/bans.py`; the queue shows a short hint of the",
        "hash so that comments from one address can be told apart). Such a ban is a",
        "moderator's decision (from the dashboard, never automatic), and it refuses every",
        "reader behind that address, where the rate limits' `ip` counts are set high so",
        "that readers sharing an address are not held back by each other.",
        "",
        "| Limit | Requests | Per seconds |",
        "| --- | --- | --- |",
    ]
    for name, (n, per) in RATE_LIMITS.items():
        lines.append(f"| `{name}` | {n} | {per} |")
    return "\n".join(lines) + "\n"
