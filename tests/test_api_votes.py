"""Voting and the sort orders that votes drive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kibitz.app import create_app
from kibitz.db.tables import votes
from kibitz.models import NewComment, Reader
from kibitz.services import comments as comment_service
from kibitz.services.reading import wilson_lower_bound
from kibitz.services.threads import now
from tests.factories import THREAD, post_comment, read_thread, vote


async def readers(make_client: Any, n: int) -> list[Any]:
    """n readers of one site, each with their own browser (cookie jar)."""
    first = await make_client(rate_limits="vote.voter=1000/60,vote.ip=10000/60")
    return [first] + [await make_client(kb=first.kb) for _ in range(n - 1)]


async def test_vote_change_and_take_back(make_client: Any) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    assert await vote(reader, c["id"], 1) == {"up": 1, "down": 0, "score": 1, "my_vote": 1}
    assert await vote(reader, c["id"], 1) == {"up": 1, "down": 0, "score": 1, "my_vote": 1}
    assert await vote(reader, c["id"], -1) == {"up": 0, "down": 1, "score": -1, "my_vote": -1}
    assert await vote(reader, c["id"], 0) == {"up": 0, "down": 0, "score": 0, "my_vote": 0}
    [shown] = (await read_thread(reader))["comments"]
    assert shown["votes"] == {"up": 0, "down": 0, "score": 0}


async def test_votes_of_many_readers_add_up(make_client: Any) -> None:
    author, *others = await readers(make_client, 6)
    c = await post_comment(author)
    for i, r in enumerate(others):
        await vote(r, c["id"], 1 if i < 4 else -1)
    [shown] = (await read_thread(author))["comments"]
    assert shown["votes"] == {"up": 4, "down": 1, "score": 3}


async def test_me_names_a_new_reader_with_the_voter_cookie_and_a_reader_token(
    make_client: Any,
) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    me = await reader.get("/api/v1/me", params={"thread": THREAD})
    cookie = me.headers["set-cookie"]
    assert cookie.startswith("kibitz_voter=") and "HttpOnly" in cookie
    # on plain http: a first-party cookie, as before (no Partitioned, no SameSite=None)
    assert "SameSite=lax" in cookie and "Partitioned" not in cookie and "Secure" not in cookie
    assert me.headers["cache-control"] == "private, no-store"
    token = me.json()["reader"]
    assert reader.cookies["kibitz_voter"] == token
    await vote(reader, c["id"], 1)
    again = await reader.get("/api/v1/me", params={"thread": THREAD})
    assert again.json()["votes"] == {str(c["id"]): 1}
    assert again.json()["reader"] == token and "set-cookie" not in again.headers


async def test_on_https_the_reader_cookies_are_partitioned_and_cross_site(
    make_client: Any,
) -> None:
    site = await make_client(public_url="https://comments.example.org")
    transport = httpx.ASGITransport(app=create_app(kb=site.kb), client=("203.0.113.7", 1))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://comments.example.org"
    ) as browser:
        me = await browser.get("/api/v1/me", params={"thread": THREAD})
        posted = await browser.post(
            "/api/v1/comments", json={"thread": THREAD, "body": "hi", "author_name": "Al"}
        )
    assert posted.status_code == 201, posted.text
    edit = [v for k, v in posted.headers.multi_items() if k == "set-cookie"]
    assert [c.split("=")[0] for c in edit] == [f"kibitz_edit_{posted.json()['id']}"]
    for cookie in (me.headers["set-cookie"], *edit):
        for flag in ("HttpOnly", "Secure", "SameSite=none", "Partitioned"):
            assert flag in cookie, (flag, cookie)


async def test_without_cookies_the_reader_header_names_the_reader(make_client: Any) -> None:
    """A browser that blocks the embedded discussion's cookies: the widget carries the
    reader's token from /me in X-Kibitz-Reader instead."""
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    token = (await reader.get("/api/v1/me", params={"thread": THREAD})).json()["reader"]
    header = {"X-Kibitz-Reader": token}
    for _ in range(2):
        reader.cookies.clear()  # the browser kept nothing
        r = await reader.post(f"/api/v1/comments/{c['id']}/vote", json={"value": 1}, headers=header)
        assert r.status_code == 200, r.text
        assert r.json() == {"up": 1, "down": 0, "score": 1, "my_vote": 1}  # counted once
    reader.cookies.clear()
    me = await reader.get("/api/v1/me", params={"thread": THREAD}, headers=header)
    assert me.json()["votes"] == {str(c["id"]): 1}  # the highlight survives a reload
    assert me.json()["reader"] == token
    [shown] = (await read_thread(author))["comments"]
    assert shown["votes"]["up"] == 1
    # nor can the author, cookieless, vote on their own comment
    mine = (await author.get("/api/v1/me", params={"thread": THREAD})).json()["reader"]
    author.cookies.clear()
    own = await author.post(
        f"/api/v1/comments/{c['id']}/vote", json={"value": 1}, headers={"X-Kibitz-Reader": mine}
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_comment"


async def test_a_vote_that_names_no_reader_is_refused(make_client: Any) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    forged = author.cookies["kibitz_voter"].split(".")[0] + ".AAAA"
    for headers in ({}, {"X-Kibitz-Reader": forged}, {"X-Kibitz-Reader": "nonsense"}):
        r = await reader.post(
            f"/api/v1/comments/{c['id']}/vote", json={"value": 1}, headers=headers
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "reader_unknown"
        assert "set-cookie" not in r.headers  # no voter is minted for it
    count = await author.kb.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(votes)).scalar_one()
    )
    assert count == 0


async def test_the_reader_header_passes_cors(make_client: Any) -> None:
    client = await make_client(allowed_origins=["https://news.example.org"])
    preflight = await client.options(
        "/api/v1/comments/1/vote",
        headers={
            "Origin": "https://news.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-kibitz-reader",
        },
    )
    assert preflight.status_code in (200, 204)
    assert "x-kibitz-reader" in preflight.headers["access-control-allow-headers"].lower()


async def test_no_voting_on_ones_own_comment(make_client: Any) -> None:
    [author] = await readers(make_client, 1)
    c = await post_comment(author)
    refused = await vote(author, c["id"], 1, expect=403)
    assert refused["error"]["code"] == "own_comment"


async def test_a_forged_voter_cookie_is_nobody(make_client: Any) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    await vote(reader, c["id"], 1)
    forged = author.cookies.get("kibitz_voter").split(".")[0] + ".AAAA"
    reader.cookies.clear()
    reader.cookies.set("kibitz_voter", forged)
    # not taken for the author (who may not vote) nor for the earlier reader
    refused = await vote(reader, c["id"], 1, expect=403)
    assert refused["error"]["code"] == "reader_unknown"
    # asking /me gives them a new name of their own
    me = await reader.get("/api/v1/me", params={"thread": THREAD})
    token = me.json()["reader"]
    assert me.headers["set-cookie"].startswith(f"kibitz_voter={token};")
    reader.cookies.clear()
    reader.cookies.set("kibitz_voter", token)
    assert (await vote(reader, c["id"], 1))["up"] == 2


async def test_bad_votes(make_client: Any) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    for body in ({"value": 2}, {"value": "up"}, {}, {"value": None}):
        r = await reader.post(f"/api/v1/comments/{c['id']}/vote", json=body)
        assert r.status_code == 422, body
    missing = await vote(reader, 987_654, 1, expect=404)
    assert missing["error"]["code"] == "comment_not_found"
    await author.delete(f"/api/v1/comments/{c['id']}")
    gone = await vote(reader, c["id"], 1, expect=409)
    assert gone["error"]["code"] == "comment_deleted"


async def test_one_vote_per_voter_per_comment_is_enforced_by_the_database(
    make_client: Any,
) -> None:
    author, reader = await readers(make_client, 2)
    c = await post_comment(author)
    await vote(reader, c["id"], 1)
    row = await author.kb.db.read(lambda conn: conn.execute(sa.select(votes)).one())
    second = sa.insert(votes).values(
        comment_id=row.comment_id, voter_id=row.voter_id, value=-1,
        created_at=now(), updated_at=now(),
    )  # fmt: skip
    with pytest.raises(IntegrityError):
        await author.kb.db.write(lambda conn: conn.execute(second))


def test_wilson_lower_bound() -> None:
    assert wilson_lower_bound(0, 0) == 0
    # 1 of 1 is less certain than 90 of 100
    assert wilson_lower_bound(1, 0) < wilson_lower_bound(90, 10)
    assert round(wilson_lower_bound(90, 10), 4) == 0.8256
    assert wilson_lower_bound(5, 5) < 0.5


async def seed_sortable(make_client: Any) -> tuple[list[Any], dict[str, int]]:
    """Four top-level comments whose order differs in every sort, with a score tie."""
    author, *voters = await readers(make_client, 12)
    kb = author.kb
    base = now() - timedelta(hours=1)
    ids: dict[str, int] = {}
    for i, name in enumerate(["oldest", "tie_older", "tie_newer", "newest"]):
        posted = await comment_service.create(
            kb,
            NewComment(thread=THREAD, body=name, author_name=name),
            Reader(),
            at=base + timedelta(minutes=i),
        )
        ids[name] = posted.id
    # scores 1, 3, 3, 1; Wilson bounds .21, .44, .38, .28
    plan = {"oldest": [1], "tie_older": [1, 1, 1], "tie_newer": [1, 1, 1, 1, -1],
            "newest": [1] * 6 + [-1] * 5}  # fmt: skip
    for name, values in plan.items():
        for voter, value in zip(voters, values, strict=False):
            await vote(voter, ids[name], value)
    return [author, *voters], ids


async def test_each_sort_order(make_client: Any) -> None:
    clients, _ = await seed_sortable(make_client)
    reader = clients[0]

    async def order(sort: str) -> list[str]:
        page = await read_thread(reader, sort=sort)
        return [c["author"]["name"] for c in page["comments"]]

    assert await order("newest") == ["newest", "tie_newer", "tie_older", "oldest"]
    assert await order("oldest") == ["oldest", "tie_older", "tie_newer", "newest"]
    # score 3, 3, 1, 1: ties broken by age, the older first
    assert await order("most_voted") == ["tie_older", "tie_newer", "oldest", "newest"]
    # the Wilson bound favours 3 of 3 over 4 of 5 over 6 of 11 over 1 of 1
    assert await order("best") == ["tie_older", "tie_newer", "newest", "oldest"]


async def test_replies_stay_oldest_first_whatever_the_sort(make_client: Any) -> None:
    author, voter = await readers(make_client, 2)
    top = await post_comment(author, "top")
    first = await post_comment(author, "first reply", parent_id=top["id"])
    second = await post_comment(author, "second reply", parent_id=top["id"])
    await vote(voter, second["id"], 1)
    for sort in ("newest", "oldest", "most_voted", "best"):
        [t] = (await read_thread(author, sort=sort))["comments"]
        assert [r["id"] for r in t["replies"]] == [first["id"], second["id"]]


async def test_unknown_sort_is_422(client: Any) -> None:
    r = await client.get("/api/v1/comments", params={"thread": THREAD, "sort": "random"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "sort"
