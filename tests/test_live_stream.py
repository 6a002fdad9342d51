"""The event stream of a thread, as a widget sees it: one kibitz process with nothing else
installed (no Redis), a real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kibitz.db.tables import events
from kibitz.models import NewComment, Reader, ThreadUpdate
from kibitz.services import comments as comment_service
from kibitz.services import moderation
from kibitz.services import threads as thread_service
from tests.factories import THREAD, post_comment, read_thread, vote
from tests.sse import open_stream, serving

HIGH = "comment.voter=1000/60,comment.ip=1000/60,vote.voter=1000/60,vote.ip=1000/60"


@pytest.fixture
async def server(make_kb: Any) -> AsyncIterator[Any]:
    """``await server(**settings)``: a kibitz serving on a port; returns a client maker."""
    stack: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    async def start(**overrides: Any) -> Any:
        kb = await make_kb(rate_limits=HIGH, **overrides)
        cm = serving(kb)
        base = await cm.__aenter__()
        stack.append(cm)

        def client() -> httpx.AsyncClient:
            c = httpx.AsyncClient(base_url=base, timeout=10)
            clients.append(c)
            return c

        client.kb = kb  # type: ignore[attr-defined]
        return client

    yield start
    for c in clients:
        await c.aclose()
    for cm in reversed(stack):
        await cm.__aexit__(None, None, None)


async def test_every_visible_change_reaches_an_open_stream_in_order(server: Any) -> None:
    client = await server()
    author, reader = client(), client()
    async with open_stream(reader, THREAD) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert "no-cache" in stream.response.headers["cache-control"]
        ready = await stream.next()
        assert ready.event == "ready" and ready.id is None
        assert ready.data == {"thread": THREAD, "last_event_id": 0, "count": 0,
                              "closed": False, "heartbeat": 20}  # fmt: skip
        assert stream.retry == 3000

        posted = await post_comment(author, "Hello **world**", author_name="Ann")
        shown = await stream.next_named("comment")
        assert shown.id == "1"
        assert shown.data["count"] == 1 and shown.data["thread"] == THREAD
        comment = shown.data["comment"]
        assert comment["id"] == posted["id"] and comment["author"]["name"] == "Ann"
        assert "<strong>world</strong>" in comment["body_html"]
        assert "author_email" not in comment and "edit_token" not in comment
        assert shown.data["root_id"] is None and shown.data["depth"] == 0

        reply = await post_comment(reader, "A reply", parent_id=posted["id"])
        replied = await stream.next_named("comment")
        assert replied.id == "2" and replied.data["count"] == 2
        assert replied.data["comment"]["parent_id"] == posted["id"]
        assert replied.data["root_id"] == posted["id"] and replied.data["depth"] == 1

        await vote(reader, posted["id"], 1)
        voted = await stream.next_named("vote")
        assert voted.id == "3"
        assert voted.data["id"] == posted["id"]
        assert voted.data["votes"] == {"up": 1, "down": 0, "score": 1}

        r = await author.patch(f"/api/v1/comments/{posted['id']}", json={"body": "Edited"})
        assert r.status_code == 200, r.text
        edited = await stream.next_named("edit")
        assert edited.id == "4" and "Edited" in edited.data["comment"]["body_html"]
        assert edited.data["comment"]["edited_at"] is not None

        # with a reply, the comment stays as a placeholder
        r = await author.delete(f"/api/v1/comments/{posted['id']}")
        assert r.status_code == 200
        gone = await stream.next_named("delete")
        assert gone.id == "5" and gone.data["count"] == 1
        assert gone.data["comment"]["status"] == "deleted" and gone.data["removed"] == []
        # the last reply goes, and takes the placeholder with it
        r = await reader.delete(f"/api/v1/comments/{reply['id']}")
        assert r.status_code == 200
        gone = await stream.next_named("delete")
        assert gone.id == "6" and gone.data["count"] == 0 and gone.data["comment"] is None
        assert gone.data["removed"] == [reply["id"], posted["id"]]

    page = await read_thread(author)
    assert page["thread"]["last_event_id"] == 6


async def test_a_stream_resumes_after_its_last_event_id_and_misses_nothing(server: Any) -> None:
    client = await server()
    author, reader = client(), client()
    ids = [(await post_comment(author, f"c{i}"))["id"] for i in range(3)]
    async with open_stream(reader, THREAD, last_event_id_header=1) as stream:
        await stream.next_named("ready")
        replayed = [await stream.next_named("comment"), await stream.next_named("comment")]
        assert [e.id for e in replayed] == ["2", "3"]
        assert [e.data["comment"]["id"] for e in replayed] == ids[1:]
        later = await post_comment(author, "c3")
        live = await stream.next_named("comment")
        assert live.id == "4" and live.data["comment"]["id"] == later["id"]
    # the widget's first connection: it read the page, then opens the stream from there
    page = await read_thread(reader)
    await post_comment(author, "between the page and the stream")
    async with open_stream(reader, THREAD, last_event_id=page["thread"]["last_event_id"]) as s:
        await s.next_named("ready")
        missed = await s.next_named("comment")
        assert missed.id == "5" and "between" in missed.data["comment"]["body_html"]


async def test_a_resume_from_before_the_kept_events_says_reset(server: Any) -> None:
    client = await server()
    author, reader = client(), client()
    for i in range(3):
        await post_comment(author, f"c{i}")
    kb = client.kb
    await kb.db.write(lambda c: c.execute(sa.delete(events).where(events.c.seq <= 2)))
    async with open_stream(reader, THREAD, last_event_id_header=1) as stream:
        await stream.next_named("ready")
        reset = await stream.next_named("reset", "comment")
        assert reset.event == "reset" and reset.id == "3"
        assert reset.data == {"thread": THREAD, "last_event_id": 3, "count": 3}
        await post_comment(author, "after the reset")
        assert (await stream.next_named("comment")).id == "4"
    for bogus in ("99", "abc"):
        async with open_stream(reader, THREAD, last_event_id_header=bogus) as stream:
            await stream.next_named("ready")
            reset = await stream.next_named("reset", "comment")
            assert reset.event == "reset" and reset.id == "4"


async def test_held_comments_appear_on_the_stream_when_approved(server: Any) -> None:
    client = await server(moderation="all")
    author, reader = client(), client()
    async with open_stream(reader, THREAD) as stream:
        await stream.next_named("ready")
        held = await post_comment(author, "Wait for it", expect=202)
        with pytest.raises(TimeoutError):
            await stream.next_named("comment", timeout=0.5)
        await moderation.decide(client.kb, held["id"], "approve")
        shown = await stream.next_named("comment")
        assert shown.data["comment"]["id"] == held["id"] and shown.data["count"] == 1


async def test_closing_a_thread_is_an_event(server: Any) -> None:
    client = await server()
    await post_comment(client(), "first")
    async with open_stream(client(), THREAD) as stream:
        await stream.next_named("ready")
        await thread_service.update(client.kb, THREAD, ThreadUpdate(closed=True))
        closed = await stream.next_named("thread")
        assert closed.data["closed"] is True and closed.data["count"] == 1


async def test_an_idle_thread_gets_no_stream(server: Any) -> None:
    client = await server(live_idle_seconds=7 * 24 * 3600)
    kb = client.kb
    old = datetime.now(UTC) - timedelta(days=8)
    data = NewComment(thread="/old-news", body="Long ago", author_name="Al")
    await comment_service.create(kb, data, Reader(), at=old)
    r = await client().get("/api/v1/stream", params={"thread": "/old-news"})
    assert r.status_code == 204  # EventSource does not reconnect after a 204
    recent = NewComment(thread="/old-news", body="Back again", author_name="Al")
    await comment_service.create(kb, recent, Reader())
    async with open_stream(client(), "/old-news") as stream:
        assert (await stream.next()).event == "ready"


async def test_one_client_may_hold_only_so_many_streams(server: Any) -> None:
    client = await server(live_streams_per_client=2)
    reader = client()
    async with open_stream(reader, THREAD) as first, open_stream(reader, "/other") as second:
        await first.next()
        await second.next()
        r = await reader.get("/api/v1/stream", params={"thread": "/third"})
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "too_many_streams"
        assert int(r.headers["retry-after"]) > 0
    await asyncio.sleep(0.2)  # the server notices the closed streams
    async with open_stream(reader, "/third") as third:
        assert (await third.next()).event == "ready"


async def test_streams_beat_and_end_after_their_lifetime(server: Any) -> None:
    client = await server(live_heartbeat_seconds=1, live_stream_max_seconds=2)
    started = time.monotonic()
    async with open_stream(client(), THREAD) as stream:
        await stream.next_named("ready")
        ping = await stream.next_named("ping", timeout=2)
        assert ping.id is None
        with pytest.raises(EOFError):
            await _drain(stream)
    assert 1.7 < time.monotonic() - started < 6  # about 2 s, on a loaded machine
    hub = client.kb.hub
    assert hub.open == 0 and not hub.feeds


async def _drain(stream: Any) -> None:
    while True:
        await stream.next(timeout=3)


async def test_many_streams_of_one_thread_share_one_read(server: Any) -> None:
    client = await server(live_streams_per_client=100)
    author = client()
    readers = [client() for _ in range(20)]
    streams = []
    async with asyncio.timeout(20):
        contexts = [open_stream(r, THREAD) for r in readers]
        for cm in contexts:
            streams.append(await cm.__aenter__())
        for s in streams:
            await s.next_named("ready")
        assert client.kb.hub.open == 20 and len(client.kb.hub.feeds) == 1
        posted = await post_comment(author, "to everyone")
        got = await asyncio.gather(*(s.next_named("comment") for s in streams))
        assert {e.data["comment"]["id"] for e in got} == {posted["id"]}
        for cm in contexts:
            await cm.__aexit__(None, None, None)


async def test_an_allowed_site_may_open_the_stream_from_its_pages(server: Any) -> None:
    client = await server(allowed_origins=["https://news.example.org"])
    reader = client()
    for origin, allowed in (("https://news.example.org", True), ("https://evil.example", False)):
        headers = {"Origin": origin}
        async with reader.stream(
            "GET", "/api/v1/stream", params={"thread": THREAD}, headers=headers
        ) as r:
            assert r.status_code == 200
            assert (r.headers.get("access-control-allow-origin") == origin) is allowed
