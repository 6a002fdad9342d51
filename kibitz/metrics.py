"""Prometheus metrics of one kibitz process: requests, latency, cache, streams, outbox.

Every process has its own registry and answers for itself at ``/metrics``: run one process
per port (docs/deployment.md) and scrape each. Counters that kibitz keeps anyway (cache
statistics, open streams) are read at scrape time rather than counted twice; the outbox
depth is one indexed query per scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection

from kibitz.db.tables import outbox

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Send

    from kibitz.context import Kibitz

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WAITING = ("queued", "sending", "failed")


def _outbox_state(conn: Connection) -> tuple[dict[str, int], datetime | None]:
    rows = conn.execute(
        sa.select(outbox.c.status, sa.func.count(), sa.func.min(outbox.c.next_attempt_at))
        .where(outbox.c.status.in_(WAITING))
        .group_by(outbox.c.status)
    )
    depth = dict.fromkeys(WAITING, 0)
    oldest = None
    for status, n, first in rows:
        depth[status] = n
        if status == "queued":
            oldest = first
    return depth, oldest


class _State(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        kb = self.m.kb
        stats = kb.cache.stats
        for name, value, text in (
            ("hits", stats.hits, "Reads answered from the response cache."),
            ("misses", stats.misses, "Reads that went to the database."),
            ("bypasses", stats.bypasses, "Misses because the cache could not be trusted "
             "(Redis unheard from for longer than redis_stale_seconds)."),
            ("invalidations", stats.invalidations, "Threads whose cached pages were dropped."),
            ("evictions", stats.evictions, "Entries dropped for room."),
        ):  # fmt: skip
            yield CounterMetricFamily(f"kibitz_cache_{name}", text, value=value)
        yield GaugeMetricFamily(
            "kibitz_cache_bytes", "Bytes of cached responses.", value=kb.cache.size_bytes
        )
        hub = kb.hub
        if hub is not None:
            yield GaugeMetricFamily("kibitz_streams_open", "Open event streams.", value=hub.open)
            yield GaugeMetricFamily(
                "kibitz_stream_threads", "Threads with open event streams.", value=len(hub.feeds)
            )
            yield CounterMetricFamily(
                "kibitz_stream_frames_delivered",
                "Events handed to open streams.",
                value=hub.delivered,
            )
        yield CounterMetricFamily(
            "kibitz_streams_refused",
            "Event streams refused: too many from one client or in this process.",
            value=self.m.streams_refused,
        )
        rows = GaugeMetricFamily(
            "kibitz_outbox_rows", "Outbox rows not sent yet, by status.", labels=["status"]
        )
        for status, n in self.m.outbox_depth.items():
            rows.add_metric([status], n)
        yield rows
        yield GaugeMetricFamily(
            "kibitz_outbox_oldest_due_seconds",
            "Age of the oldest queued outbox row that is due (0: none).",
            value=self.m.outbox_oldest_due,
        )
        if kb.settings.redis_url:
            yield GaugeMetricFamily(
                "kibitz_redis_listening",
                "1 while this process hears every change announced over Redis.",
                value=1 if kb.bus.trusted() else 0,
            )


class Metrics:
    def __init__(self, kb: Kibitz) -> None:
        self.kb = kb
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kibitz_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kibitz_http_request_duration_seconds",
            "Time until the response started, by route template (event streams excluded).",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        # the labelled series, looked up once each (labels() costs more than the count)
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}
        self.streams_refused = 0
        self.outbox_depth: dict[str, int] = dict.fromkeys(WAITING, 0)
        self.outbox_oldest_due = 0.0
        self.registry.register(_State(self))
        ProcessCollector(registry=self.registry)

    async def render(self) -> bytes:
        depth, oldest = await self.kb.db.read(_outbox_state)
        self.outbox_depth = depth
        now = datetime.now(UTC)
        self.outbox_oldest_due = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        return generate_latest(self.registry)

    def answered(self, method: str, route: str, status: int, elapsed: float) -> None:
        """A request answered outside the app (kibitz/web/fastpath.py)."""
        self._count(method, route, status)
        self._timer(method, route).observe(elapsed)

    def _count(self, method: str, route: str, status: int) -> None:
        series = self._counters.get((method, route, status))
        if series is None:
            series = self._counters[method, route, status] = self.requests.labels(
                method, route, str(status)
            )
        series.inc()

    def _timer(self, method: str, route: str) -> Any:
        series = self._timers.get((method, route))
        if series is None:
            series = self._timers[method, route] = self.latency.labels(method, route)
        return series

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Count and time every HTTP request, also those no route matched."""

        async def measured(scope: Any, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = [500]

            async def counting_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                    self._observe(scope, started, message)
                await send(message)

            try:
                await app(scope, receive, counting_send)
            finally:
                self._count(scope["method"], _route(scope), status[0])

        return measured

    def _observe(self, scope: Any, started: float, message: Any) -> None:
        headers = dict(message.get("headers", []))
        if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
            return
        elapsed = time.perf_counter() - started
        self._timer(scope["method"], _route(scope)).observe(elapsed)


def _route(scope: Any) -> str:
    # the template, never the raw path: one series per route, whatever clients ask for
    template = scope.get("path_template")
    return str(template) if template else "unmatched"
