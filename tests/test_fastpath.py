"""Thread reads and counts answered in front of the framework give the API's own answers.

Each request goes to the app as ``kibitz serve`` runs it (the fast path in front) and to the
bare app, and the two answers must be the same: status, headers and body. A request the fast
path does not take on must reach the app, which answers it as always.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kibitz.app import create_app, served
from kibitz.context import Kibitz
from kibitz.web.fastpath import FastReads
from tests.conftest import ORIGIN, MakeKibitz
from tests.factories import THREAD, post_comment

OTHER = "/2021/06/another-article"
ALLOWED = "https://news.example.org"


class Counting:
    """The app, counting the requests that reached it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


class Pair:
    def __init__(self, kb: Kibitz) -> None:
        self.fast_app = FastReads(create_app(kb=kb))
        self.behind = Counting(self.fast_app.app)
        self.fast_app.app = self.behind  # type: ignore[assignment]
        self.fast = _client(self.fast_app)
        self.plain = _client(create_app(kb=kb))

    async def both(self, method: str, url: str, **kw: Any) -> tuple[Any, Any]:
        """The plain app's answer, then the fast path's, each as (status, headers, body)."""
        plain = await self.plain.request(method, url, **kw)
        fast = await self.fast.request(method, url, **kw)
        return _shape(plain), _shape(fast)


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN)


def _shape(r: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body, less what differs between any two answers of the app: the
    date, a fresh CSRF token, the order of the methods in an Allow header."""
    headers = []
    for k, v in r.headers.items():
        name = k.lower()
        if name == "allow":
            v = ", ".join(sorted(v.split(", ")))
        elif name == "set-cookie" and v.startswith("kibitz_csrf="):
            v = "kibitz_csrf=(random)" + v[v.index(";") :]
        if name != "date":
            headers.append((name, v))
    return r.status_code, sorted(headers), r.content


@pytest.fixture
async def pair(make_kb: MakeKibitz) -> AsyncIterator[Pair]:
    kb = await make_kb(
        allowed_origins=[ALLOWED], rate_limits="comment.voter=1000/60,comment.ip=1000/60"
    )
    p = Pair(kb)
    yield p
    await p.fast.aclose()
    await p.plain.aclose()


async def _discussion(p: Pair) -> list[dict[str, Any]]:
    posted = [await post_comment(p.plain, f"Comment number {i}") for i in range(7)]
    await post_comment(p.plain, "A reply", parent_id=posted[0]["id"])
    await post_comment(p.plain, "Elsewhere", thread=OTHER)
    return posted


READS = [
    {"thread": THREAD},
    {"thread": THREAD, "sort": "oldest"},
    {"thread": THREAD, "sort": "most_voted", "limit": "3"},
    {"thread": THREAD, "sort": "best", "limit": "200"},
    {"thread": "/2021/06/no-such-article"},
    {"thread": "  " + THREAD},
]
HEADERS = [
    {},
    {"Origin": ALLOWED},
    {"Origin": "https://evil.example"},
    {"Origin": ALLOWED, "Cookie": "kibitz_voter=x"},
]


@pytest.mark.parametrize("headers", HEADERS, ids=["no-origin", "allowed", "foreign", "cookie"])
async def test_a_thread_read_is_the_apps_answer_byte_for_byte(
    pair: Pair, headers: dict[str, str]
) -> None:
    await _discussion(pair)
    for params in READS:
        for _ in range(2):  # read from the database, then from the cache
            plain, fast = await pair.both("GET", "/api/v1/comments", params=params, headers=headers)
            assert plain[0] == 200
            assert fast == plain, params
    assert pair.behind.calls == 0


async def test_a_reader_who_has_the_page_gets_a_304_from_either(pair: Pair) -> None:
    await _discussion(pair)
    first = await pair.fast.get("/api/v1/comments", params={"thread": THREAD})
    etag = first.headers["etag"]
    plain, fast = await pair.both(
        "GET", "/api/v1/comments", params={"thread": THREAD},
        headers={"If-None-Match": etag, "Origin": ALLOWED},
    )  # fmt: skip
    assert plain[0] == 304 and plain[2] == b""
    assert fast == plain
    assert pair.behind.calls == 0


async def test_if_none_match_lists_weak_tags_and_star_alike_in_either(pair: Pair) -> None:
    await _discussion(pair)
    for path in ("/api/v1/comments", "/api/v1/counts"):
        params = {"thread": THREAD}
        etag = (await pair.fast.get(path, params=params)).headers["etag"]
        for header, status in [
            ("*", 304),
            (f'"older", {etag}', 304),
            (f'W/"older",W/{etag}', 304),
            ('"older", "oldest"', 200),
            (f"{etag[:-1]}x{etag[-1]}", 200),  # another tag that starts like it
            (f"not-a-list {etag}", 200),
        ]:
            headers = {"If-None-Match": header}
            plain, fast = await pair.both("GET", path, params=params, headers=headers)
            assert plain[0] == status, (path, header)
            assert fast == plain, (path, header)


async def test_the_next_page_by_cursor_is_the_same(pair: Pair) -> None:
    await _discussion(pair)
    page = (await pair.plain.get("/api/v1/comments", params={"thread": THREAD, "limit": 2})).json()
    params = {"thread": THREAD, "limit": "2", "cursor": page["next_cursor"]}
    plain, fast = await pair.both("GET", "/api/v1/comments", params=params)
    assert plain[0] == 200 and fast == plain


async def test_counts_by_post_and_by_get_are_the_apps_answer(pair: Pair) -> None:
    await _discussion(pair)
    keys = [THREAD, OTHER, "/nothing/here", THREAD]
    for _ in range(2):
        plain, fast = await pair.both(
            "POST", "/api/v1/counts", json={"threads": keys}, headers={"Origin": ALLOWED}
        )
        assert plain[0] == 200 and json.loads(plain[2])["counts"][THREAD] == 8
        assert fast == plain
        plain, fast = await pair.both("GET", "/api/v1/counts", params=[("thread", k) for k in keys])
        assert fast == plain
    assert pair.behind.calls == 0


async def test_a_comment_shows_at_once_in_cached_reads_and_counts(pair: Pair) -> None:
    await _discussion(pair)
    asked = {"threads": [OTHER, THREAD]}
    for _ in range(2):
        before = (await pair.fast.get("/api/v1/comments", params={"thread": THREAD})).json()
        counted = (await pair.fast.post("/api/v1/counts", json=asked)).json()["counts"]
    await post_comment(pair.plain, "Just posted")
    after = (await pair.fast.get("/api/v1/comments", params={"thread": THREAD})).json()
    assert after["thread"]["comment_count"] == before["thread"]["comment_count"] + 1
    assert after["comments"][0]["body_html"] == "<p>Just posted</p>"
    counts = (await pair.fast.post("/api/v1/counts", json=asked)).json()["counts"]
    assert counts == {OTHER: counted[OTHER], THREAD: counted[THREAD] + 1}
    assert pair.behind.calls == 0


BAD = [
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "sort": "random"}}),
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "limit": "abc"}}),
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "limit": "0"}}),
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "limit": "-1"}}),
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "cursor": "not-a-cursor"}}),
    ("GET", "/api/v1/comments", {"params": {"thread": ""}}),
    ("GET", "/api/v1/comments", {"params": {"thread": "/a\x01b"}}),
    ("GET", "/api/v1/comments", {"params": {}}),
    ("GET", "/api/v1/comments", {"params": [("thread", THREAD), ("thread", OTHER)]}),
    ("GET", "/api/v1/comments", {"params": {"thread": THREAD, "page": "2"}}),
    ("POST", "/api/v1/counts", {"content": b"{not json"}),
    ("POST", "/api/v1/counts", {"json": {"threads": "no list"}}),
    ("POST", "/api/v1/counts", {"json": {"threads": [f"/t/{i}" for i in range(101)]}}),
    ("POST", "/api/v1/counts", {"content": b'{"threads": ["' + b"x" * 70_000 + b'"]}'}),
    ("GET", "/api/v1/counts", {"params": {"thread": "/a", "other": "1"}}),
    ("HEAD", "/api/v1/comments", {"params": {"thread": THREAD}}),
]


@pytest.mark.parametrize(("method", "url", "kw"), BAD, ids=range(len(BAD)))
async def test_whatever_the_fast_path_does_not_take_on_the_app_answers(
    pair: Pair, method: str, url: str, kw: dict[str, Any]
) -> None:
    await _discussion(pair)
    plain, fast = await pair.both(method, url, **kw)
    assert fast == plain
    assert pair.behind.calls == 1


async def test_other_routes_go_straight_to_the_app(pair: Pair) -> None:
    plain, fast = await pair.both("GET", "/healthz")
    assert fast == plain and pair.behind.calls == 1
    posted = await pair.fast.post(
        "/api/v1/comments", json={"thread": THREAD, "body": "Via the fast app", "author_name": "A"}
    )
    assert posted.status_code == 201 and pair.behind.calls == 2


async def test_reads_answered_in_front_are_counted_in_the_metrics(pair: Pair) -> None:
    await _discussion(pair)
    metrics = pair.fast_app.app.state.metrics
    before = metrics.requests.labels("GET", "/api/v1/comments", "200")._value.get()
    for _ in range(3):
        assert (
            await pair.fast.get("/api/v1/comments", params={"thread": THREAD})
        ).status_code == 200
    assert pair.behind.calls == 0  # all three answered in front of the app
    after = metrics.requests.labels("GET", "/api/v1/comments", "200")._value.get()
    assert after - before == 3


async def test_counts_are_not_kept_longer_than_the_cache_keeps_pages(pair: Pair) -> None:
    await _discussion(pair)
    ask = {"threads": [THREAD, OTHER]}
    assert (await pair.fast.post("/api/v1/counts", json=ask)).json()["counts"][THREAD] == 8
    cache = pair.fast_app.kb.cache
    # a change that this process never heard of (another process died before announcing it)
    await pair.fast_app.kb.db.write(
        lambda c: c.exec_driver_sql(
            "UPDATE threads SET comment_count = 99 WHERE key = '" + THREAD + "'"
        )
    )
    assert (await pair.fast.post("/api/v1/counts", json=ask)).json()["counts"][THREAD] == 8
    cache.clock = lambda: 1e12  # long after: every kept answer is too old
    assert (await pair.fast.post("/api/v1/counts", json=ask)).json()["counts"][THREAD] == 99


@pytest.mark.parametrize("fast_reads", [True, False], ids=["on", "off"])
async def test_the_fast_reads_setting_turns_the_fast_path_off(
    make_kb: MakeKibitz, monkeypatch: pytest.MonkeyPatch, fast_reads: bool
) -> None:
    """KIBITZ_FAST_READS=false: every read goes through the framework, answered the same."""
    kb = await make_kb(allowed_origins=[ALLOWED], fast_reads=fast_reads)
    in_front: list[str] = []
    send = FastReads._send

    async def counted(self: FastReads, scope: Any, *args: Any) -> int:
        in_front.append(scope["path"])
        return await send(self, scope, *args)

    monkeypatch.setattr(FastReads, "_send", counted)
    app = served(create_app(kb=kb))
    assert isinstance(app, FastReads) is fast_reads
    plain, client = _client(create_app(kb=kb)), _client(app)
    try:
        await post_comment(plain, "Read through whichever path")
        await post_comment(plain, "Elsewhere", thread=OTHER)
        for _ in range(2):  # from the database, then from the cache
            for params in READS:
                asked = {"params": params, "headers": {"Origin": ALLOWED}}
                mine = await client.get("/api/v1/comments", **asked)
                assert mine.status_code == 200
                assert _shape(mine) == _shape(await plain.get("/api/v1/comments", **asked))
            counted_json = {"json": {"threads": [THREAD, OTHER]}}
            mine = await client.post("/api/v1/counts", **counted_json)
            assert mine.json()["counts"] == {THREAD: 1, OTHER: 1}
            assert _shape(mine) == _shape(await plain.post("/api/v1/counts", **counted_json))
    finally:
        await plain.aclose()
        await client.aclose()
    assert len(in_front) == (2 * (len(READS) + 1) if fast_reads else 0)
