"""The scenarios: the same reader actions, as each system's own widget and API express them.

kibitz's requests are the ones kibitz/static/embed.js and count.js make; Isso's are the ones
its embed.js makes with its default client settings (sort oldest, every top-level comment,
five replies each: ``GET /?uri=...&sort=oldest&offset=0&nested_limit=5``) and its count.js
(``POST /count``). Every request carries the Origin of the page that embeds the widget, as a
browser sends it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bench.data import SITE, Manifest
from bench.wrk import Load, Request
from kibitz.security import Signer, new_token

ORIGIN = {"Origin": SITE}
# kibitz's secret key in a run (bench/run.py sets it): the vote scenario signs its readers
SECRET_KEY = secrets.token_urlsafe(48)
JSON_POST = {**ORIGIN, "Content-Type": "application/json"}
POST_BODY = (
    "Benchmark comment: the figures in the third paragraph do not match the ministry's "
    "report, see *page 12*."
)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    expect: int  # the status a correct answer has
    reads: bool = True  # the ceiling can stand in for kibitz
    writes: bool = False  # some of its requests change the data


SCENARIOS = {
    s.id: s
    for s in (
        Scenario("1", "Read a 200-comment thread (the widget's first request)", 200),
        Scenario("2", "First page of a 10,000-comment thread (1,000 in a quick run)", 200),
        Scenario("3", "Counts for 20 threads in one request", 200),
        Scenario("4", "Post a comment (bounded count)", 201, reads=False, writes=True),
        Scenario("5", "Vote (kibitz) / like (Isso)", 200, reads=False, writes=True),
        Scenario("6", "Mixed: 95% reads, 5% posts, on 1,000 threads", 200, writes=True),
    )
}
# The order a system runs them in, on its own fresh copy of the seed: the reads, then the
# mixed load while every system's data is still the seed (the ceiling replays answers
# captured from the seed), then the writes that change it (votes, then posts).
RUN_ORDER = ("1", "2", "3", "6", "5", "4")
assert sorted(RUN_ORDER) == sorted(SCENARIOS)


def _reader_header() -> dict[str, str]:
    """A new reader, as GET /api/v1/me would name them."""
    return {"X-Kibitz-Reader": Signer(SECRET_KEY).sign("voter", new_token(16))}


def _q(value: str) -> str:
    """encodeURIComponent, as both widgets encode the thread key."""
    return quote(value, safe="-_.!~*'()")


# -- kibitz


def kibitz_read(key: str) -> Request:
    # embed.js load(): page() with no limit, sort from the reader's choice (newest first)
    return Request("GET", f"/api/v1/comments?thread={_q(key)}&sort=newest", ORIGIN)


def kibitz_post(key: str) -> Request:
    body = {"thread": key, "author_name": "Bench Reader", "body": POST_BODY}
    return Request("POST", "/api/v1/comments", JSON_POST, json.dumps(body))


def kibitz_load(scenario: str, m: Manifest, post_limit: int) -> Load:
    if scenario == "1":
        return Load.of(kibitz_read(m.keys["read"]))
    if scenario == "2":
        return Load.of(kibitz_read(m.keys["big"]))
    if scenario == "3":
        body = json.dumps({"threads": m.mixed_keys[:20]})
        return Load.of(Request("POST", "/api/v1/counts", JSON_POST, body))
    if scenario == "4":
        return Load.of(*(kibitz_post(k) for k in m.mixed_keys), limit=post_limit)
    if scenario == "5":
        # each comment gets its own reader, named as the widget names one without cookies
        # (X-Kibitz-Reader, signed with the server's key); the list votes each up, then
        # each down, so every request changes a vote, round after round: each one writes
        readers = [_reader_header() for _ in m.vote_ids]
        return Load.of(
            *(
                Request("POST", f"/api/v1/comments/{i}/vote", {**JSON_POST, **who},
                        json.dumps({"value": value}))
                for value in (1, -1)
                for i, who in zip(m.vote_ids, readers, strict=True)
            )
        )  # fmt: skip
    if scenario == "6":
        return _mixed(
            [kibitz_read(k) for k in m.mixed_keys], [kibitz_post(k) for k in m.mixed_keys]
        )
    raise KeyError(scenario)


# -- Isso


def isso_read(key: str, limit: int | None = None) -> Request:
    # embed.js fetchComments() -> api.fetch(): uri, sort, offset (parent null is left out),
    # then limit (only when max-comments-top is set) and nested_limit
    page = f"&limit={limit}" if limit else ""
    return Request("GET", f"/?uri={_q(key)}&sort=oldest&offset=0{page}&nested_limit=5", ORIGIN)


def isso_post(key: str) -> Request:
    body = {
        "author": "Bench Reader", "email": None, "website": None, "text": POST_BODY,
        "parent": None, "title": None, "notification": 0,
    }  # fmt: skip
    return Request("POST", f"/new?uri={_q(key)}", JSON_POST, json.dumps(body))


def isso_load(scenario: str, m: Manifest, post_limit: int) -> Load:
    if scenario == "1":
        return Load.of(isso_read(m.keys["read"]))
    if scenario == "2":
        # a first page, as a site that sets data-isso-max-comments-top="50" asks for it
        return Load.of(isso_read(m.keys["big"], limit=50))
    if scenario == "3":
        return Load.of(Request("POST", "/count", JSON_POST, json.dumps(m.mixed_keys[:20])))
    if scenario == "4":
        return Load.of(*(isso_post(k) for k in m.mixed_keys), limit=post_limit)
    if scenario == "5":
        # Isso counts one vote per /24 address (behind a trusted proxy: X-Forwarded-For)
        return Load.of(
            *(
                Request("POST", f"/id/{cid}/like",
                        {**JSON_POST, "X-Forwarded-For": f"10.{n >> 8 & 255}.{n & 255}.1"})
                for n, cid in enumerate(m.vote_ids)
            )
        )  # fmt: skip
    if scenario == "6":
        return _mixed([isso_read(k) for k in m.mixed_keys], [isso_post(k) for k in m.mixed_keys])
    raise KeyError(scenario)


def _mixed(reads: list[Request], writes: list[Request]) -> Load:
    return Load([(0.95, reads), (0.05, writes)])


LOADS: dict[str, Callable[[str, Manifest, int], Load]] = {
    "kibitz": kibitz_load,
    "ceiling": kibitz_load,
    "isso": isso_load,
}
