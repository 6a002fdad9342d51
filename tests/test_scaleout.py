"""Two kibitz processes on two ports sharing PostgreSQL and Redis: what one sees, the other
sees; limits hold across both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import REDIS_URL, Process, forget_prefix, kibitz_pair, new_prefix, redis_or_fail
from tests.conftest import ENGINES, _empty_postgres
from tests.factories import THREAD, post_comment, read_thread, vote
from tests.sse import open_stream

HIGH = "comment.voter=1000/60,comment.ip=1000/60,vote.voter=1000/60,vote.ip=1000/60"

pytestmark = pytest.mark.skipif(
    "postgresql" not in ENGINES, reason="KIBITZ_TEST_DATABASES leaves PostgreSQL out"
)


@pytest.fixture
def pair(postgres_url: str, tmp_path: Path) -> Iterator[Any]:
    """``pair(**settings)``: two processes with these settings, sharing the database and a
    Redis key prefix of this test's own."""
    redis_or_fail()
    asyncio.run(_empty_postgres(postgres_url))
    prefix = new_prefix()
    started: list[Any] = []

    def make(**settings: str) -> tuple[Process, Process]:
        common = {"redis_url": REDIS_URL, "redis_prefix": prefix, "rate_limits": HIGH,
                  **settings}  # fmt: skip
        cm = kibitz_pair(tmp_path, postgres_url, **common)
        started.append(cm)
        first, second = cm.__enter__()
        return first, second

    yield make
    for cm in reversed(started):
        cm.__exit__(None, None, None)
    forget_prefix(prefix)


async def _ready(process: Process) -> None:
    """Both processes listen on Redis before the test acts (they start in parallel)."""
    async with process.client() as c:
        deadline = time.monotonic() + 10
        while (await c.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


async def test_a_comment_on_one_process_reaches_a_stream_on_the_other_within_a_second(
    pair: Any,
) -> None:
    a, b = pair()
    await _ready(a)
    await _ready(b)
    async with a.client() as author, b.client() as reader:
        await post_comment(author, "warming up")
        async with open_stream(reader, THREAD) as stream:
            assert (await stream.next_named("ready")).data["count"] == 1
            for i in range(5):
                posted = await post_comment(author, f"live {i}")
                posted_at = time.monotonic()  # the first process has taken it
                event = await stream.next_named("comment", timeout=1.0)
                took = time.monotonic() - posted_at
                assert event.data["comment"]["id"] == posted["id"]
                assert took < 1.0, took
                assert event.id == str(2 + i)


async def test_a_vote_on_one_process_invalidates_the_others_cached_thread(pair: Any) -> None:
    a, b = pair()
    await _ready(a)
    await _ready(b)
    async with a.client() as author, b.client() as voter:
        posted = await post_comment(author, "vote for me")
        first = await author.get("/api/v1/comments", params={"thread": THREAD})
        again = await author.get(
            "/api/v1/comments", params={"thread": THREAD},
            headers={"If-None-Match": first.headers["etag"]},
        )  # fmt: skip
        assert again.status_code == 304  # served from a's cache
        await vote(voter, posted["id"], 1)
        voted_at = time.monotonic()
        while True:
            page = await read_thread(author)
            if page["comments"][0]["votes"]["up"] == 1:
                break
            # the stated bound: announcements arrive in milliseconds
            assert time.monotonic() - voted_at < 0.5, "a served a stale page"
            await asyncio.sleep(0.005)
        async with a.client() as metrics_client:
            text = (await metrics_client.get("/metrics")).text
        assert "kibitz_cache_hits_total" in text and "kibitz_redis_listening 1.0" in text


async def test_rate_limits_hold_across_both_processes(pair: Any) -> None:
    a, b = pair(rate_limits="comment.voter=4/60")
    async with a.client() as on_a, b.client() as on_b:
        await post_comment(on_a, "one")
        on_b.cookies.update(on_a.cookies)  # the same reader, sent to either process
        await post_comment(on_b, "two")
        await post_comment(on_a, "three")
        await post_comment(on_b, "four")
        for c in (on_a, on_b):
            refused = await post_comment(c, "five", expect=429)
            assert refused["error"]["code"] == "rate_limited"
        assert (await read_thread(on_a))["thread"]["comment_count"] == 4


async def test_stream_limits_hold_across_both_processes(pair: Any) -> None:
    a, b = pair(live_streams_per_client="2")
    async with a.client() as on_a, b.client() as on_b:
        async with open_stream(on_a, THREAD) as s1, open_stream(on_b, THREAD) as s2:
            await s1.next_named("ready")
            await s2.next_named("ready")
            for c in (on_a, on_b):
                r = await c.get("/api/v1/stream", params={"thread": THREAD})
                assert r.status_code == 429
        await asyncio.sleep(0.3)
        async with open_stream(on_b, THREAD) as s3:
            await s3.next_named("ready")


async def test_readyz_names_what_it_checked(pair: Any) -> None:
    a, _ = pair()
    await _ready(a)
    async with a.client() as c:
        r = await c.get("/readyz")
        assert r.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
