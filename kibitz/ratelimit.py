"""Abuse limits: one readable table, enforced per keyed IP hash and per voter cookie.

The per-IP limits are deliberately generous (ten times the per-reader ones) so that readers
behind one address (an office, a mobile carrier's NAT) are never blocked by each other; the
per-voter limits stop one browser from flooding.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

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

    def check(self, checks: list[tuple[str, str | None]]) -> Verdict:
        """Count one request against every (limit, subject); deny if any limit is exceeded."""
        worst = Verdict(True)
        for name, subject in checks:
            if subject is None:
                continue
            verdict = self.hit(name, subject)
            if not verdict.allowed and verdict.retry_after >= worst.retry_after:
                worst = verdict
        return worst


def rate_limits_markdown() -> str:
    lines = [
        "# Rate limits",
        "",
        "Generated from `kibitz/ratelimit.py`; override with `KIBITZ_RATE_LIMITS`",
        "(e.g. `comment.voter=5/60,vote.ip=300/60`). A request over a limit gets HTTP 429",
        "with a `Retry-After` header. `ip` limits count a keyed hash of the address (the raw",
        "address is never stored); `voter` limits count the reader's signed cookie.",
        "",
        "| Limit | Requests | Per seconds |",
        "| --- | --- | --- |",
    ]
    for name, (n, per) in RATE_LIMITS.items():
        lines.append(f"| `{name}` | {n} | {per} |")
    return "\n".join(lines) + "\n"
