"""Abuse limits: per reader and per (hashed) address, answered with 429 and Retry-After."""

from __future__ import annotations

from typing import Any

import httpx

from kibitz.app import create_app
from kibitz.bus import connect
from kibitz.ratelimit import RATE_LIMITS, RateLimiter, RedisRateLimiter
from tests.cluster import REDIS_URL, forget_prefix, new_prefix, redis_or_fail
from tests.factories import THREAD, post_comment, read_thread


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_limit_allows_its_count_then_refuses_until_the_window_passes() -> None:
    clock = Clock()
    limiter = RateLimiter({"x": (3, 60)}, clock=clock)
    assert [limiter.hit("x", "a").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit("x", "a")
    assert not refused.allowed and 1 <= refused.retry_after <= 60
    assert limiter.hit("x", "b").allowed  # someone else is not affected
    clock.now += 120
    assert limiter.hit("x", "a").allowed


def test_the_window_slides_rather_than_resetting_at_once() -> None:
    clock = Clock()
    clock.now = 60 * 1000 + 59  # the end of a window
    limiter = RateLimiter({"x": (10, 60)}, clock=clock)
    for _ in range(10):
        assert limiter.hit("x", "a").allowed
    clock.now += 2  # a new window has begun, but the last one's burst still weighs
    assert not limiter.hit("x", "a").allowed


def test_the_table_has_generous_per_address_limits() -> None:
    """Readers behind one address (an office, a carrier's NAT) are not blocked by each other."""
    for action in ("comment", "vote", "edit"):
        per_reader, _ = RATE_LIMITS[f"{action}.voter"]
        per_ip, _ = RATE_LIMITS[f"{action}.ip"]
        assert per_ip >= 10 * per_reader


async def test_sixth_comment_in_a_minute_is_429_with_retry_after(client: Any) -> None:
    for i in range(5):
        await post_comment(client, f"comment {i}")
    r = await client.post(
        "/api/v1/comments", json={"thread": THREAD, "body": "one too many", "author_name": "Al"}
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert (await read_thread(client))["thread"]["comment_count"] == 5


async def test_readers_sharing_an_address_are_not_blocked_by_each_other(
    make_client: Any,
) -> None:
    first = await make_client()
    for i in range(5):
        await post_comment(first, f"comment {i}")
    await post_comment(first, "blocked", expect=429)
    # a colleague behind the same address
    second = await make_client(kb=first.kb)
    await post_comment(second, "my own first comment")


async def test_the_per_address_limit_stops_a_cookie_dropping_bot(make_client: Any) -> None:
    bot = await make_client(rate_limits="comment.ip=8/60")
    for i in range(8):
        bot.cookies.clear()
        await post_comment(bot, f"spam {i}")
    bot.cookies.clear()
    await post_comment(bot, "spam", expect=429)
    # another address is unaffected
    transport = httpx.ASGITransport(app=create_app(kb=bot.kb), client=("198.51.100.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as other:
        await post_comment(other, "hello")


async def test_votes_are_limited_too(make_client: Any) -> None:
    author = await make_client(rate_limits="vote.voter=3/60,comment.voter=100/60")
    voter = await make_client(kb=author.kb)
    ids = [(await post_comment(author, f"c{i}"))["id"] for i in range(4)]
    await voter.get("/api/v1/me", params={"thread": THREAD})  # as the widget does first
    codes = [
        (await voter.post(f"/api/v1/comments/{i}/vote", json={"value": 1})).status_code for i in ids
    ]
    assert codes == [200, 200, 200, 429]


async def test_limits_counted_in_redis_hold_across_processes() -> None:
    redis_or_fail()
    prefix = new_prefix()
    one, two = connect(REDIS_URL), connect(REDIS_URL)  # as two processes would
    try:
        a = RedisRateLimiter({"x": (3, 60)}, one, prefix)
        b = RedisRateLimiter({"x": (3, 60)}, two, prefix)
        verdicts = [await limiter.check([("x", "reader")]) for limiter in (a, b, a, b)]
        assert [v.allowed for v in verdicts] == [True, True, True, False]
        assert 1 <= verdicts[-1].retry_after <= 60
        assert (await a.check([("x", "someone else")])).allowed
        assert a.failures == b.failures == 0
    finally:
        await one.aclose()
        await two.aclose()
        forget_prefix(prefix)


async def test_without_redis_each_process_counts_on_its_own() -> None:
    gone = connect("redis://127.0.0.1:9/0")  # nothing listens there
    limiter = RedisRateLimiter({"x": (2, 60)}, gone, "kibitz-test:")
    verdicts = [await limiter.check([("x", "reader")]) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert limiter.failures == 3
    await gone.aclose()
