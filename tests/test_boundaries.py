"""Requests a handler never sees: ids no database column holds, bodies of the wrong types.

Each answers a clear 4xx on SQLite and PostgreSQL alike, never a 500, and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from sqlalchemy.exc import DBAPIError

from kibitz.app import create_app
from kibitz.db.tables import comments
from kibitz.settings import Settings
from kibitz.web import boundaries, errors
from tests.factories import THREAD, post_comment, read_thread
from tests.moderators import csrf, dashboard

HUGE = str(2**70)


def id_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, path) of every route with an int path parameter, the ints made HUGE."""
    for route in app.routes:
        path = getattr(route, "path", "")
        if ":int}" not in path:
            continue
        concrete = re.sub(r"\{[^}:]+:int\}", HUGE, path)
        concrete = re.sub(r"\{[^}:]+:\w+\}", "x", concrete)
        for method in sorted(getattr(route, "route_handler_map", {})):
            if method not in ("HEAD", "OPTIONS"):
                yield method, concrete


async def test_path_ids_beyond_a_bigint_are_not_found_on_every_route(make_client: Any) -> None:
    moderator = await dashboard(make_client)  # logged in: the admin routes' own guards pass
    app = create_app(kb=moderator.kb)  # type: ignore[attr-defined]
    routes = list(id_routes(app))
    expected = {
        "POST /api/v1/comments/{0}/vote",
        "PATCH /api/v1/comments/{0}",
        "DELETE /api/v1/comments/{0}",
        "POST /api/v1/comments/{0}/report",
        "GET /admin/comments/{0}",
    }
    assert expected <= {f"{m} {p}".replace(HUGE, "{0}") for m, p in routes}
    token = await csrf(moderator, "/admin")
    answers = {}
    for method, path in routes:
        r = await moderator.request(
            method, path, headers={"x-kibitz-csrf": token, "content-type": "application/json"},
            content=b'{"value": 1, "body": "x", "reason": "spam"}',
        )  # fmt: skip
        answers[f"{method} {path}"] = (r.status_code, r.json()["error"]["code"])
    assert set(answers.values()) == {(404, "not_found")}, answers


async def test_a_reader_sees_a_page_not_json_for_a_huge_id(client: Any) -> None:
    r = await client.get(f"/admin/comments/{HUGE}", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


async def test_vote_and_edit_on_the_largest_possible_id_are_plain_not_found(client: Any) -> None:
    """At the edge of the range the request reaches the database, which has no such row."""
    r = await client.post(f"/api/v1/comments/{2**63 - 1}/vote", json={"value": 1})
    assert r.status_code == 404
    r = await client.post(f"/api/v1/comments/{2**63}/vote", json={"value": 1})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_strict_types_in_every_json_body(make_client: Any) -> None:
    client = await make_client()
    mine = await post_comment(client)
    other = await post_comment(await make_client(kb=client.kb), "someone else's")
    for value in ("-1", 1.0, True, "1"):
        r = await client.post(f"/api/v1/comments/{other['id']}/vote", json={"value": value})
        assert r.status_code == 422 and r.json()["error"]["field"] == "value", value
    r = await client.patch(
        f"/api/v1/comments/{mine['id']}", json={"body": 5},
        headers={"X-Kibitz-Edit-Token": mine["edit_token"]},
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = await client.post("/api/v1/counts", json={"threads": [THREAD, 7]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "threads.1"
    page = await read_thread(client)
    assert {c["votes"]["score"] for c in page["comments"]} == {0}


def test_every_json_route_decodes_strictly() -> None:
    """No layer below the app replaces the strict decoding with a before_request of its own."""
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    json_routes = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            field = getattr(handler, "parsed_data_field", None)
            kwarg = field.kwarg_definition if field is not None else None
            if field is not None and getattr(kwarg, "media_type", "application/json") == (
                "application/json"
            ):
                json_routes[route.path] = handler.resolve_before_request()
    assert "/api/v1/comments/{comment_id:int}/vote" in json_routes
    assert len(json_routes) >= 8
    assert {p for p, hook in json_routes.items() if hook is not boundaries.strict_json} == set()


async def test_numbers_past_the_columns_elsewhere_are_refused_not_500(client: Any) -> None:
    """The safety net (kibitz/web/errors.py) for a number that no boundary checked: the
    reader's HTML form takes the parent id as text."""
    page = await client.get("/discussion", params={"thread": THREAD})
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    form = {"_csrf_token": token.group(1), "thread": THREAD, "body": "hi", "author_name": "Al",
            "parent_id": HUGE}  # fmt: skip
    r = await client.post("/discussion/comments", data=form, headers={"accept": "text/html"})
    assert r.status_code == 422, r.text[:300]
    assert "out of range" in r.text
    r = await client.post("/discussion/comments", data=form)  # a script, asking for JSON
    assert r.status_code == 422 and r.json()["error"]["code"] == "out_of_range"
    count = sa.select(sa.func.count()).select_from(comments)
    assert await client.kb.db.read(lambda conn: conn.execute(count).scalar()) == 0


def test_only_values_out_of_range_are_blamed_on_the_request() -> None:
    """Other database failures stay 500s, logged in full, not hidden as bad requests."""
    overflow = DBAPIError("SELECT 1", {}, Exception("invalid input for query argument $1"))
    overflow.__cause__ = OverflowError("value out of int64 range")
    assert errors._out_of_range(overflow)
    assert errors._out_of_range(OverflowError("Python int too large to convert"))
    assert not errors._out_of_range(DBAPIError("SELECT 1", {}, Exception("connection reset")))
