"""A server-sent events client for tests: real HTTP to a real server, parsed as a browser's
EventSource parses it; and a kibitz server run in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from kibitz.app import create_app
from kibitz.context import Kibitz


@dataclass
class Event:
    event: str
    data: Any
    id: str | None


class Stream:
    """Events read in the background, so that waiting for one can time out harmlessly."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.retry: int | None = None
        self.last_id: str | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def next(self, timeout: float = 5.0) -> Event:
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            self._queue.put_nowait(None)
            raise EOFError("the stream ended")
        return event

    async def next_named(self, *kinds: str, timeout: float = 5.0) -> Event:
        """The next event of one of these kinds (pings and others skipped)."""
        while True:
            event = await self.next(timeout)
            if event.event in kinds:
                return event

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _read(self) -> None:
        kind, data, ident = "message", [], None
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if data:
                        if ident is not None:
                            self.last_id = ident
                        self._queue.put_nowait(Event(kind, json.loads("\n".join(data)), ident))
                    kind, data, ident = "message", [], None
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    ident = value
                elif name == "retry":
                    self.retry = int(value)
        except httpx.HTTPError:
            pass
        finally:
            self._queue.put_nowait(None)


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, thread: str, **params: Any
) -> AsyncIterator[Stream]:
    headers = {}
    if "last_event_id_header" in params:
        headers["Last-Event-ID"] = str(params.pop("last_event_id_header"))
    async with client.stream(
        "GET", "/api/v1/stream", params={"thread": thread, **params}, headers=headers
    ) as response:
        assert response.status_code == 200, (response.status_code, await response.aread())
        stream = Stream(response)
        try:
            yield stream
        finally:
            await stream.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(kb: Kibitz) -> AsyncIterator[str]:
    """kibitz on a real port, served by uvicorn in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(kb=kb), host="127.0.0.1", port=port, log_level="warning",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
