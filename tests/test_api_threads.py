"""Threads through the API with a token, feeds, pages and the headers every response carries."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from kibitz.services import tokens
from tests.factories import THREAD, post_comment

ATOM = "{http://www.w3.org/2005/Atom}"


async def test_threads_need_a_token_to_create_and_close(client: Any) -> None:
    body = {"key": "article-42", "title": "An article", "url": "http://127.0.0.1:8000/a/42"}
    r = await client.post("/api/v1/threads", json=body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.post(
        "/api/v1/threads", json=body, headers={"Authorization": "Bearer kbz_wrong"}
    )
    assert r.status_code == 401
    token = await tokens.create(client.kb, "site")
    auth = {"Authorization": f"Bearer {token}"}
    created = await client.post("/api/v1/threads", json=body, headers=auth)
    assert created.status_code == 201
    assert created.json() == {**body, "comment_count": 0, "closed": False, "last_event_id": 0}
    again = await client.post("/api/v1/threads", json=body, headers=auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "thread_exists"
    # a key that is no path may now be commented on
    await post_comment(client, thread="article-42")
    closed = await client.patch(
        "/api/v1/threads", params={"key": "article-42"}, json={"closed": True}, headers=auth
    )
    assert closed.json()["closed"] is True and closed.json()["comment_count"] == 1
    await post_comment(client, thread="article-42", expect=403)
    await tokens.revoke(client.kb, "site")
    r = await client.patch(
        "/api/v1/threads", params={"key": "article-42"}, json={"closed": False}, headers=auth
    )
    assert r.status_code == 401
    info = await client.get("/api/v1/threads", params={"key": "article-42"})
    assert info.json()["closed"] is True
    missing = await client.get("/api/v1/threads", params={"key": "nope"})
    assert missing.status_code == 404


async def test_site_and_thread_feeds_are_atom(make_client: Any) -> None:
    client = await make_client(rate_limits="comment.voter=100/60", site_name="SouthFront")
    await post_comment(client, "first *one*", author_name="Al")
    await post_comment(client, "elsewhere", thread="/other", author_name="Bo")
    r = await client.get("/feeds/recent.atom")
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.findtext(f"{ATOM}title") == "Recent comments on SouthFront"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}author/{ATOM}name") for e in entries] == ["Bo", "Al"]
    content = entries[1].find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text == "<p>first <em>one</em></p>"
    link = entries[1].find(f"{ATOM}link")
    assert link is not None and link.get("href", "").endswith(f"{THREAD}#kibitz-comment-1")
    thread_feed = ET.fromstring((await client.get(f"/feeds/thread.atom?thread={THREAD}")).content)
    assert len(thread_feed.findall(f"{ATOM}entry")) == 1
    assert (await client.get("/feeds/thread.atom?thread=/none")).status_code == 404


async def test_the_thread_page_shows_comments_without_javascript(client: Any) -> None:
    parent = await post_comment(client, "Central Asia is a *flash-point*", author_name="peter")
    await post_comment(client, "Well it is, but...", author_name="Al", parent_id=parent["id"])
    r = await client.get("/discussion", params={"thread": THREAD, "sort": "oldest"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert "2 Comments" in html and "<em>flash-point</em>" in html
    assert html.index("Central Asia") < html.index("Well it is, but...")
    assert 'aria-current="true">Oldest' in html and ">Most Voted<" in html


async def test_every_response_has_security_headers(client: Any) -> None:
    for url in ("/api/v1/comments?thread=/x", "/", "/api/v1/nothing"):
        r = await client.get(url)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "referrer-policy" in r.headers
    assert "content-security-policy" not in (await client.get("/healthz")).headers


async def test_openapi_documents_the_stable_routes(client: Any) -> None:
    r = await client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/v1/comments", "/api/v1/comments/{comment_id}",
                 "/api/v1/comments/{comment_id}/vote", "/api/v1/counts"):  # fmt: skip
        assert path in paths
    post = paths["/api/v1/comments"]["post"]
    assert "NewComment" in str(post["requestBody"])
    assert {"201", "422", "429"} <= set(post["responses"])
