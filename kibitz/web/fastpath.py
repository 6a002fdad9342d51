"""Thread reads and counts answered in front of the framework.

Reading a thread and counting comments are nearly all of a comment server's traffic, and
their answers come from the response cache: they need none of the framework's routing,
parameter models and middleware chain, which cost more than the rest of the request (the
benchmark, ``make bench``, measured kibitz at a third of a bare uvicorn serving the same
bytes). ``FastReads`` wraps the app and answers ``GET /api/v1/comments`` and
``GET|POST /api/v1/counts`` itself, through the same services, with the response the API
handlers give: the same body, ETag and 304, with the app's own CORS rules and before-send
hooks applied (tests/test_fastpath.py holds the two side by side). Anything it does not
fully understand (another route, an unknown or repeated parameter, a body it cannot read) and
anything that fails (bad input, a busy database) goes to the app unchanged, which answers
it, errors included, as it always did.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Litestar
from litestar.config.cors import CORSConfig

from kibitz.cache import Entry
from kibitz.context import Kibitz
from kibitz.models import Counts, CountsIn
from kibitz.services import counts as count_service
from kibitz.services import reading
from kibitz.web.conditional import none_match

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

COMMENTS = "/api/v1/comments"
COUNTS = ("/api/v1/counts", "/api/v1/counts/")
PAGE_PARAMS = {"thread", "sort", "limit", "cursor"}
DIGITS = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True, slots=True)
class _Memo:
    entry: Entry
    generations: tuple[tuple[str, int], ...]
    stored_at: float


class _NotMine(Exception):
    """The request is the app's to answer."""


class FastReads:
    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.kb: Kibitz = app.state.kibitz
        self.cors = _Cors(app.cors_config) if app.cors_config is not None else None
        self._counts_memo: dict[bytes, _Memo] = {}
        self._templates: dict[tuple[bool, tuple[str, bool] | None], list[tuple[bytes, bytes]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[arg-type]
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        replay: list[Message] = []
        try:
            if method == "GET" and path == COMMENTS:
                entry, route = await self._page(scope), COMMENTS
            elif path in COUNTS and method in ("GET", "POST"):
                entry, route = await self._counts(scope, receive, replay), COUNTS[0]
            else:
                raise _NotMine
        except Exception:  # the app answers it, errors included, as it always has
            await self.app(scope, _replaying(replay, receive), send)  # type: ignore[arg-type]
            return
        status = await self._send(scope, send, entry)
        metrics = getattr(self.app.state, "metrics", None)
        if metrics is not None:  # counted like the app's own answers (kibitz/metrics.py)
            metrics.answered(method, route, status, time.perf_counter() - started)

    async def _page(self, scope: Scope) -> Entry:
        params = _params(scope)
        if not params.keys() <= PAGE_PARAMS or "thread" not in params:
            raise _NotMine
        limit = params.get("limit")
        if limit is not None and not DIGITS.fullmatch(limit):
            raise _NotMine
        return await reading.thread_page(
            self.kb,
            params["thread"],
            params.get("sort", "newest"),
            int(limit) if limit is not None else None,
            params.get("cursor"),
        )

    async def _counts(self, scope: Scope, receive: Receive, replay: list[Message]) -> Entry:
        if scope["method"] == "GET":
            asked = scope["query_string"]
            pairs = parse_qsl(asked.decode("latin-1"), keep_blank_values=True)
            if not pairs or any(name != "thread" for name, _ in pairs):
                raise _NotMine
            keys = [value for _, value in pairs]
        else:
            body = b""
            while True:
                message = await receive()
                replay.append(message)
                if message["type"] != "http.request":
                    raise _NotMine
                body += message.get("body", b"")
                if len(body) > self.kb.settings.max_request_bytes:
                    raise _NotMine
                if not message.get("more_body", False):
                    break
            asked = body
            keys = msgspec.json.decode(body, type=CountsIn).threads
        # a page of teasers asks for the same threads again and again: keep the whole answer,
        # good while none of its threads changed (their generations, noted before reading) and
        # no older than the cache keeps its own entries; never while generations are unknown
        # (kibitz/cache.py: another process may have changed them unheard)
        cache = self.kb.cache
        asked = scope["method"].encode() + b" " + asked
        memo = self._counts_memo.get(asked)
        if (
            memo is not None
            and cache.clock() - memo.stored_at <= cache.max_age
            and all(cache.generation(k) == g for k, g in memo.generations)
        ):
            return memo.entry
        noted = tuple((k, cache.generation(k)) for k in dict.fromkeys(k.strip() for k in keys))
        counts = await count_service.counts(self.kb, keys)
        entry = Entry.of(msgspec.json.encode(Counts(counts)))  # as the API's handler does
        known = tuple((k, g) for k, g in noted if g is not None)
        if len(known) == len(noted):
            if len(self._counts_memo) >= 1024:
                self._counts_memo.pop(next(iter(self._counts_memo)))
            self._counts_memo[asked] = _Memo(entry, known, cache.clock())
        return entry

    async def _send(self, scope: Scope, send: Send, entry: Entry) -> int:
        scope["app"] = scope["litestar_app"] = self.app
        request_headers = dict(scope["headers"])
        asked = request_headers.get(b"if-none-match")
        fresh = asked is not None and none_match(asked.decode("latin-1"), entry.etag)
        origin = request_headers.get(b"origin")
        cors = (origin.decode("latin-1"), b"cookie" in request_headers) if origin else None
        template = self._templates.get((fresh, cors))
        if template is None:
            template = await self._template(scope, fresh, cors)
        headers = list(template)
        headers[0] = (b"etag", entry.etag.encode("latin-1"))
        if fresh:
            status, body = 304, b""
        else:
            status, body = 200, entry.body
            headers[1] = (b"content-length", str(len(body)).encode())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status

    async def _template(
        self, scope: Scope, fresh: bool, cors: tuple[str, bool] | None
    ) -> list[tuple[bytes, bytes]]:
        """The response headers as the API's ``cached()``, the CORS middleware and the app's
        before-send hooks make them, built once per kind of answer: the ETag (first) and the
        length (second) are filled in per response. The app's hooks add headers by what the
        response is (its type), never by its ETag, length or body (kibitz/app.py), so they run
        here once, not on every answer."""
        headers = [(b"etag", b"-"), (b"content-length", b"0")] if not fresh else [(b"etag", b"-")]
        headers += [(b"cache-control", b"no-cache"), (b"vary", b"Origin")]
        if not fresh:
            headers.append((b"content-type", b"application/json"))
        if cors is not None and self.cors is not None:
            self.cors.apply(headers, *cors)
        start: Message = {"type": "http.response.start", "status": 200, "headers": headers}
        for hook in self.app.before_send:
            await hook(start, scope)  # type: ignore[arg-type]
        headers = list(start["headers"])
        firsts = [b"etag", b"content-length"][: 1 if fresh else 2]
        headers = [h for h in headers if h[0] in firsts] + [
            h for h in headers if h[0] not in firsts
        ]
        if [n for n, _ in headers[: len(firsts)]] != firsts:
            raise RuntimeError("a before-send hook took the ETag or the length out")
        if len(self._templates) < 1024:
            self._templates[(fresh, cors)] = headers
        return headers


class _Cors:
    """The headers Litestar's CORS middleware adds to a simple (not preflight) response,
    computed once from the app's CORS config rather than through its header objects."""

    def __init__(self, config: CORSConfig) -> None:
        self.config = config
        self.simple = [(k.lower().encode(), v.encode()) for k, v in config.simple_headers.items()]
        self.allow_headers = ", ".join(sorted(set(config.allow_headers))).encode()
        self.allow_methods = ", ".join(sorted(set(config.allow_methods))).encode()
        self._allowed: dict[str, bool] = {}

    def allowed(self, origin: str) -> bool:
        ok = self._allowed.get(origin)
        if ok is None:
            ok = self.config.is_origin_allowed(origin=origin)
            if len(self._allowed) < 1024:
                self._allowed[origin] = ok
        return ok

    def apply(self, headers: list[tuple[bytes, bytes]], origin: str, has_cookie: bool) -> None:
        for name, value in self.simple:
            _set(headers, name, value)
        allow_all = self.config.is_allow_all_origins
        if (allow_all and has_cookie) or (not allow_all and self.allowed(origin)):
            _set(headers, b"access-control-allow-origin", origin.encode("latin-1"))
            _set(headers, b"vary", b"Origin")
        _set(headers, b"access-control-allow-headers", self.allow_headers)
        _set(headers, b"access-control-allow-methods", self.allow_methods)


def _set(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Replace the header (its first occurrence, dropping others), else append it."""
    at = [i for i, (n, _) in enumerate(headers) if n == name]
    if not at:
        headers.append((name, value))
        return
    headers[at[0]] = (name, value)
    for i in reversed(at[1:]):
        del headers[i]


@functools.lru_cache(1024)
def _query(query: bytes) -> dict[str, str] | None:
    """The parameters, parsed as Litestar parses them; None when one is repeated."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, separator="&")
    params = dict(pairs)
    return params if len(params) == len(pairs) else None


def _params(scope: Scope) -> dict[str, str]:
    params = _query(scope["query_string"])
    if params is None:
        raise _NotMine  # a repeated parameter: let the app decide what it means
    return params


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands the app what was already read of the body."""
    pending = list(messages)

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
