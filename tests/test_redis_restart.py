"""Redis restarted under load: two kibitz processes keep serving, reconnect by themselves,
their streams miss nothing, and no page is served stale for longer than the stated bound
(``redis_stale_seconds`` plus the time to handle one request)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.cluster import kibitz_pair, new_prefix
from tests.conftest import ENGINES, _empty_postgres
from tests.factories import THREAD, post_comment
from tests.sse import free_port, open_stream

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgresql" not in ENGINES, reason="PostgreSQL left out on purpose"),
]
STALE_SECONDS = 1
BOUND = STALE_SECONDS + 1.0  # the stated bound, plus a loaded test machine's slack
HIGH = "comment.voter=100000/60,comment.ip=100000/60"


class OwnRedis:
    """A redis-server of this test's own, on a free port, that the test may kill."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed for this test")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


async def test_redis_restarted_under_load(
    own_redis: OwnRedis, postgres_url: str, tmp_path: Path
) -> None:
    await _empty_postgres(postgres_url)
    settings = {"redis_url": own_redis.url, "redis_prefix": new_prefix(),
                "redis_stale_seconds": str(STALE_SECONDS), "rate_limits": HIGH}  # fmt: skip
    with kibitz_pair(tmp_path, postgres_url, **settings) as (a, b):
        await _run(a, b, own_redis)


async def _run(a: Any, b: Any, own_redis: OwnRedis) -> None:
    acked: list[tuple[float, int]] = []  # (when acknowledged, comments acknowledged so far)
    reads: list[tuple[str, float, int]] = []  # (process, request sent, count seen)
    posted: list[int] = []
    stop = asyncio.Event()
    async with a.client() as on_a, b.client() as on_b, a.client() as ra, b.client() as rb:
        await post_comment(on_a, "before")
        posted.append(1)
        acked.append((time.monotonic(), 1))

        async def write() -> None:
            # on a only: b learns of these through Redis alone
            i = 0
            while not stop.is_set():
                comment = await post_comment(on_a, f"under load {i}")
                posted.append(comment["id"])
                acked.append((time.monotonic(), len(posted)))
                i += 1
                await asyncio.sleep(0.03)

        async def read(name: str, client: Any) -> None:
            while not stop.is_set():
                sent = time.monotonic()
                r = await client.get("/api/v1/comments", params={"thread": THREAD, "limit": 1})
                assert r.status_code == 200
                reads.append((name, sent, r.json()["thread"]["comment_count"]))
                await asyncio.sleep(0.005)

        async with open_stream(on_b, THREAD) as on_b_stream, open_stream(on_a, THREAD) as on_a_s:
            await on_b_stream.next_named("ready")
            await on_a_s.next_named("ready")
            tasks = [asyncio.create_task(t) for t in (write(), read("a", ra), read("b", rb))]
            await asyncio.sleep(1.0)
            own_redis.kill()
            down_at = time.monotonic()
            await asyncio.sleep(3.0)
            own_redis.start()
            up_at = time.monotonic()
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*tasks)

            # streams resume: every comment, once, in order, on both processes
            for stream in (on_b_stream, on_a_s):
                seen: list[int] = []
                ids: list[int] = []
                async with asyncio.timeout(10):  # the hub's database check is every 5 s
                    while len(seen) < len(posted) - 1:
                        event = await stream.next_named("comment", timeout=10)
                        seen.append(event.data["comment"]["id"])
                        ids.append(int(event.id or 0))
                assert seen == posted[1:]
                assert ids == list(range(2, len(posted) + 1))

            # both processes are back on Redis, and live delivery is fast again
            async with asyncio.timeout(10):
                for client in (on_a, on_b):
                    while (await client.get("/readyz")).status_code != 200:
                        await asyncio.sleep(0.05)
            fresh = await post_comment(on_a, "after the restart")
            posted_at = time.monotonic()
            event = await on_b_stream.next_named("comment", timeout=1.0)
            assert event.data["comment"]["id"] == fresh["id"]
            assert time.monotonic() - posted_at < 1.0

    # nothing served stale longer than the bound
    stale = []
    for name, sent, count in reads:
        due = max((n for t, n in acked if t <= sent - BOUND), default=0)
        if count < due:
            stale.append((name, round(sent - down_at, 2), count, due))
    assert not stale, stale
    assert len(reads) >= 10
    during = [t for t, _ in acked if down_at < t < up_at]
    assert len(during) >= 2, "writes stalled while Redis was down"
