"""The event stream of one thread (server-sent events), described in docs/live.md.

The handler decides whether a stream may open (the thread is not idle, the client and the
process have room), then the stream says ``ready``, replays what the client missed since
its Last-Event-ID (or ``reset`` when that is no longer known), and sends each new event as
the hub hands it over, with a ``ping`` every ``live_heartbeat_seconds``. After about
``live_stream_max_seconds`` it ends; the browser reconnects and resumes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from kibitz.context import Kibitz
from kibitz.live import events
from kibitz.live.events import Position
from kibitz.live.hub import Hub
from kibitz.services import threads as thread_service
from kibitz.services.errors import RateLimited
from kibitz.web import reader as rd
from kibitz.web.api import ERRORS

RETRY_MS = 3000  # how long a browser waits before it reconnects
REPLAY_MAX = 500  # more missed events than this: reload the thread instead (reset)
HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx: never buffer this response, whatever the configuration says
    "X-Accel-Buffering": "no",
}


def named(kind: str, data: dict[str, Any], seq: int | None = None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + msgspec.json.encode(data) + b"\n\n"


def _too_many(message: str, retry_after: int) -> RateLimited:
    error = RateLimited(retry_after)
    error.code, error.message = "too_many_streams", message
    return error


def _parse_id(raw: str | None) -> int | None:
    """The client's last event number; -1 for one that cannot be ours (answered by reset)."""
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else -1


@get(
    "/api/v1/stream",
    summary="Live events of a thread (server-sent events)",
    description="`text/event-stream` of `ready`, `comment`, `edit`, `delete`, `vote`, "
    "`thread`, `reset` and `ping` events (docs/live.md). Resumes after the event named by "
    "the Last-Event-ID header or the `last_event_id` parameter (a thread page's "
    "`thread.last_event_id`). 204 when the thread is idle (no stream: do not reconnect); "
    "429 when the client holds too many streams.",
    tags=["live"],
    responses={
        200: ResponseSpec(None, description="An event stream", media_type="text/event-stream"),
        204: ResponseSpec(None, description="Idle thread: no stream"),
        **ERRORS,
    },
)
async def stream(
    request: Request[Any, Any, Any],
    thread: Annotated[str, QueryParameter(description="The thread key")],
    last_event_id: Annotated[
        str | None, QueryParameter(description="Resume after this event (the header wins)")
    ] = None,
) -> Response[Any]:
    kb = rd.kibitz(request)
    hub = kb.hub
    assert hub is not None
    s = kb.settings
    key = thread_service.check_key(thread)
    position = await kb.db.read(lambda conn: events.position(conn, key))
    idle_since = datetime.now(UTC) - timedelta(seconds=s.live_idle_seconds)
    if position.last_activity is not None and position.last_activity < idle_since:
        return Response(b"", status_code=204, headers={"Cache-Control": "no-store"})
    metrics = getattr(request.app.state, "metrics", None)
    if hub.open >= s.live_max_streams:
        if metrics is not None:
            metrics.streams_refused += 1
        raise _too_many("This server holds all the live streams it can; try again later.", 30)
    client = rd.reader(request)[0].ip_hash or "unknown"
    token = await kb.slots.acquire(client)
    if token is None:
        if metrics is not None:
            metrics.streams_refused += 1
        raise _too_many("Too many live streams from your address; close some tabs.", 60)
    since = _parse_id(request.headers.get("last-event-id") or last_event_id)
    return Stream(
        _events(kb, hub, key, position, since, client, token),
        media_type="text/event-stream",
        headers=HEADERS,
    )


async def _events(
    kb: Kibitz, hub: Hub, key: str, position: Position, since: int | None, client: str,
    token: str,
) -> AsyncIterator[bytes]:  # fmt: skip
    s = kb.settings
    subscriber = hub.subscribe(key, position.seq)
    try:
        now = position.seq
        ready = {"thread": key, "last_event_id": now, "count": position.count,
                 "closed": position.closed, "heartbeat": s.live_heartbeat_seconds}  # fmt: skip
        head = [f"retry: {RETRY_MS}\n\n".encode(), named("ready", ready)]
        start = now if since is None or not 0 <= since <= now else since
        # read after subscribing: an event between the position and the subscription is here
        backlog = await kb.db.read(lambda conn: events.since(conn, key, start, REPLAY_MAX + 1))
        sent = start
        if since is not None and not _replayable(since, now, backlog):
            reset = {"thread": key, "last_event_id": now, "count": position.count}
            head.append(named("reset", reset, now))
            sent = now
        head += [e.frame() for e in backlog if e.seq > sent]
        sent = max([sent, *(e.seq for e in backlog)])
        yield b"".join(head)
        async for chunk in _live(kb, subscriber, sent, client, token):
            yield chunk
    finally:
        hub.unsubscribe(key, subscriber)
        await kb.slots.release(client, token)


def _replayable(since: int, now: int, backlog: list[events.Event]) -> bool:
    """Whether the events after ``since`` up to ``now`` are all still in the log."""
    if not 0 <= since <= now:
        return False
    wanted = now - since
    if wanted > REPLAY_MAX:
        return False
    return [e.seq for e in backlog[:wanted]] == list(range(since + 1, now + 1))


async def _live(
    kb: Kibitz, subscriber: Any, sent: int, client: str, token: str
) -> AsyncIterator[bytes]:
    s = kb.settings
    lifetime = s.live_stream_max_seconds * random.uniform(0.9, 1.0)  # noqa: S311 (spread)
    ends = time.monotonic() + lifetime
    beat = float(s.live_heartbeat_seconds)
    while True:
        subscriber.wake.clear()
        if subscriber.frames:
            out = []
            while subscriber.frames:
                seq, frame = subscriber.frames.popleft()
                if seq > sent:
                    out.append(frame)
                    sent = seq
            if out:
                yield b"".join(out)
            continue
        left = ends - time.monotonic()
        if subscriber.closed or left <= 0:
            return
        try:
            # a timeout, not wait_for: no task per wait, which counts with thousands of streams
            async with asyncio.timeout(min(beat, left)):
                await subscriber.wake.wait()
        except TimeoutError:
            if time.monotonic() < ends:
                yield b"event: ping\ndata: {}\n\n"
                await kb.slots.renew(client, token)
