"""Posting, replying, editing and deleting, as a reader does it through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kibitz.db.tables import comments, threads
from kibitz.models import NewComment, Reader
from kibitz.services import comments as comment_service
from kibitz.services.threads import now
from tests.factories import THREAD, flatten, post_comment, read_thread


async def test_post_returns_the_comment_with_an_edit_token_and_cookies(client) -> None:
    response = await client.post(
        "/api/v1/comments",
        json={
            "thread": THREAD,
            "body": "Remember what *Putin* said",
            "author_name": "peter mcloughlin",
            "author_email": "peter@example.org",
            "author_url": "https://peter.example.org/",
        },
    )
    assert response.status_code == 201
    c = response.json()
    assert c["author"] == {"name": "peter mcloughlin", "url": "https://peter.example.org/"}
    assert c["body_html"] == "<p>Remember what <em>Putin</em> said</p>"
    assert c["status"] == "approved" and c["parent_id"] is None and c["replies"] == []
    assert c["votes"] == {"up": 0, "down": 0, "score": 0}
    assert len(c["edit_token"]) >= 32
    assert "peter@example.org" not in response.text
    cookies = response.headers.get_list("set-cookie")
    edit_cookie = next(v for v in cookies if v.startswith(f"kibitz_edit_{c['id']}="))
    assert "HttpOnly" in edit_cookie and f"Path=/api/v1/comments/{c['id']}" in edit_cookie
    assert any(v.startswith("kibitz_voter=") and "HttpOnly" in v for v in cookies)


async def test_email_and_ip_never_leave_the_server(client) -> None:
    await post_comment(client, author_email="secret@example.org")
    for url in (f"/api/v1/comments?thread={THREAD}", "/feeds/recent.atom",
                f"/discussion?thread={THREAD}", f"/feeds/thread.atom?thread={THREAD}"):  # fmt: skip
        body = (await client.get(url)).text
        assert "secret@example.org" not in body
        assert "203.0.113.7" not in body


async def test_replies_nest_under_their_parent_oldest_first(client) -> None:
    top = await post_comment(client, "When the US started flying its ISIS troops out")
    first = await post_comment(client, "Well it is, but...", parent_id=top["id"])
    second = await post_comment(client, "I would take those reports", parent_id=top["id"])
    inner = await post_comment(client, "Agreed", parent_id=first["id"])
    page = await read_thread(client)
    [t] = page["comments"]
    assert [r["id"] for r in t["replies"]] == [first["id"], second["id"]]
    assert [r["id"] for r in t["replies"][0]["replies"]] == [inner["id"]]
    assert t["replies"][0]["replies"][0]["parent_id"] == first["id"]
    assert page["thread"]["comment_count"] == 4


async def test_deep_replies_are_stored_but_shown_at_most_five_levels_deep(
    make_client: Any,
) -> None:
    client = await make_client(rate_limits="comment.voter=1000/60")
    ids = [(await post_comment(client, "level 1"))["id"]]
    for level in range(2, 10):
        ids.append((await post_comment(client, f"level {level}", parent_id=ids[-1]))["id"])
    [top] = (await read_thread(client))["comments"]
    chain = [top]
    while chain[-1]["replies"]:
        assert len(chain[-1]["replies"]) in (1, 5)
        chain.append(chain[-1]["replies"][0])
    assert len(chain) == 5  # five levels shown
    deepest_list = chain[3]["replies"]  # the replies of level 4, shown at level 5
    assert [c["body_html"] for c in deepest_list] == [f"<p>level {n}</p>" for n in range(5, 10)]
    # each keeps its real parent, so a reader can see whom it answers
    assert [c["parent_id"] for c in deepest_list] == ids[3:8]
    assert all(c["replies"] == [] for c in deepest_list)


async def test_display_depth_is_configurable(make_client: Any) -> None:
    client = await make_client(display_depth=2, rate_limits="comment.voter=1000/60")
    parent = await post_comment(client, "top")
    for _ in range(3):
        parent = await post_comment(client, "deeper", parent_id=parent["id"])
    [top] = (await read_thread(client))["comments"]
    assert len(top["replies"]) == 3 and all(r["replies"] == [] for r in top["replies"])


async def test_name_is_required_by_default_and_email_and_website_are_optional(client) -> None:
    bad = await post_comment(client, author_name="   ", expect=422)
    assert bad["error"]["field"] == "author_name" and bad["error"]["code"] == "required"
    ok = await post_comment(client, author_name="Al")
    assert ok["author"]["url"] is None


async def test_author_rules_are_configurable(make_client: Any) -> None:
    client = await make_client(require_name=False, require_email=True, allow_website=False)
    missing = await post_comment(client, author_name=None, expect=422)
    assert missing["error"]["field"] == "author_email"
    posted = await post_comment(client, author_name=None, author_email="a@example.org")
    assert posted["author"]["name"] == "Guest"
    refused = await post_comment(
        client, author_email="a@example.org", author_url="https://x.example", expect=422
    )
    assert refused["error"]["field"] == "author_url"


async def test_bad_fields_are_refused_with_the_field_named(client) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"author_email": "not-an-address"}, "author_email", "invalid_email"),
        ({"author_url": "javascript:alert(1)"}, "author_url", "invalid_url"),
        ({"author_name": "x" * 101}, "author_name", "too_long"),
        ({"body": "   "}, "body", "required"),
        ({"thread": ""}, "thread", "required"),
        ({"thread": "/" + "x" * 600}, "thread", "too_long"),
        ({"thread_url": "ftp://example.org/x"}, "thread_url", "invalid_url"),
    ]
    for fields, field, code in cases:
        payload = {"thread": THREAD, "body": "hi", "author_name": "Al", **fields}
        response = await client.post("/api/v1/comments", json=payload)
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["error"]["field"] == field
        assert response.json()["error"]["code"] == code


async def test_website_without_scheme_is_taken_as_https(client) -> None:
    posted = await post_comment(client, author_url="peter.example.org")
    assert posted["author"]["url"] == "https://peter.example.org"


async def test_body_length_limit(make_client: Any) -> None:
    client = await make_client(max_body_chars=100)
    await post_comment(client, "x" * 100)
    error = (await post_comment(client, "x" * 101, expect=422))["error"]
    assert error == {
        "code": "too_long",
        "field": "body",
        "message": "A comment has at most 100 characters (this one has 101).",
    }


async def test_a_request_body_over_the_size_limit_is_413(client) -> None:
    response = await client.post(
        "/api/v1/comments", json={"thread": THREAD, "body": "x" * 70_000, "author_name": "Al"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


async def test_malformed_json_wrong_types_and_missing_fields(client) -> None:
    def post(raw: bytes, ctype: str = "application/json") -> Any:
        return client.post("/api/v1/comments", content=raw, headers={"content-type": ctype})

    r = await post(b'{"thread": "/x", "body": ')
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await post(b'{"thread": "/x", "body": 5, "author_name": "Al"}')
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    r = await post(b'{"thread": "/x", "body": "hi", "parent_id": [1]}')
    assert r.status_code == 422 and r.json()["error"]["field"] == "parent_id"
    r = await post(b'{"thread": "/x"}')
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "required",
        "message": "`body` is required.",
        "field": "body",
    }
    r = await post(b"[]")
    assert r.status_code == 422
    r = await post(b"thread=/x&body=hi", "application/x-www-form-urlencoded")
    assert r.status_code == 415
    r = await post(b"")
    assert r.status_code == 400 and r.json()["error"] == {
        "code": "malformed_json",
        "message": "The request has no JSON body.",
    }
    # strict types: a number in a string, or a float, is not an id
    for raw, field in [
        (b'{"thread": "/x", "body": "hi", "author_name": "Al", "parent_id": "1"}', "parent_id"),
        (b'{"thread": "/x", "body": "hi", "author_name": "Al", "parent_id": 1.0}', "parent_id"),
        (b'{"thread": "/x", "body": "hi", "author_name": "Al", "notify_replies": "yes"}',
         "notify_replies"),
        (b'{"thread": "/x", "body": "hi", "author_name": "Al", "anchor": {"exact": "a", '
         b'"start": "0", "end": 1, "text_hash": "x"}}', "anchor.start"),
    ]:  # fmt: skip
        r = await post(raw)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, raw
    # ids no database column can hold, and ids that cannot exist
    for field, value in [("parent_id", 2**70), ("passage_id", 2**70), ("parent_id", 2**63),
                         ("parent_id", 0), ("passage_id", -1)]:  # fmt: skip
        r = await client.post(
            "/api/v1/comments",
            json={"thread": "/x", "body": "hi", "author_name": "Al", field: value},
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (field, value)
    # fields the server does not know are ignored (clients newer than the server)
    r = await post(b'{"thread": "/x", "body": "hi", "author_name": "Al", "mood": "sunny"}')
    assert r.status_code == 201
    assert [c["id"] for c in (await read_thread(client, "/x"))["comments"]] == [r.json()["id"]]


async def test_replies_to_unknown_foreign_and_deleted_parents_are_refused(client) -> None:
    other = await post_comment(client, thread="/other")
    unknown = await post_comment(client, parent_id=999_999, expect=422)
    assert unknown["error"]["code"] == "unknown_parent"
    foreign = await post_comment(client, parent_id=other["id"], expect=422)
    assert foreign["error"]["code"] == "parent_in_other_thread"
    mine = await post_comment(client)
    deleted = await client.delete(
        f"/api/v1/comments/{mine['id']}", headers={"X-Kibitz-Edit-Token": mine["edit_token"]}
    )
    assert deleted.status_code == 200
    gone = await post_comment(client, parent_id=mine["id"], expect=409)
    assert gone["error"]["code"] == "parent_deleted"
    page = await read_thread(client)
    assert page["comments"] == [] and page["thread"]["comment_count"] == 0


async def test_failed_posts_write_nothing(client, kb: Any) -> None:
    await post_comment(client, parent_id=12345, thread="/new-page", expect=422)
    for table in (threads, comments):
        query = sa.select(sa.func.count()).select_from(table)
        assert await kb.db.read(lambda conn, q=query: conn.execute(q).scalar()) == 0


async def test_threads_open_only_on_allowed_origins_and_paths(make_client: Any) -> None:
    client = await make_client(
        allowed_origins=["https://news.example.org"], thread_url_patterns=["/20*"]
    )
    ok = await post_comment(
        client, thread="/2021/06/a", thread_url="https://news.example.org/2021/06/a"
    )
    assert ok["status"] == "approved"
    page = await read_thread(client, "/2021/06/a")
    assert page["thread"]["url"] == "https://news.example.org/2021/06/a"
    for url in ("https://evil.example.com/2021/06/b", "https://news.example.org/about"):
        refused = await post_comment(client, thread="/x", thread_url=url, expect=404)
        assert refused["error"]["code"] == "thread_not_found"
    # a key that is not a path needs a thread made by the publisher
    await post_comment(client, thread="article-42", expect=404)


async def test_closed_threads_take_no_comments(make_client: Any, kb: Any) -> None:
    client = await make_client(kb=kb)
    await post_comment(client)
    from kibitz.models import ThreadUpdate
    from kibitz.services import threads

    await threads.update(kb, THREAD, ThreadUpdate(closed=True))
    closed = await post_comment(client, expect=403)
    assert closed["error"]["code"] == "thread_closed"
    page = await read_thread(client)
    assert page["thread"]["closed"] is True and page["thread"]["comment_count"] == 1


async def test_edit_within_the_window_with_the_token_or_the_cookie(client) -> None:
    posted = await post_comment(client, "Frist")
    by_cookie = await client.patch(f"/api/v1/comments/{posted['id']}", json={"body": "First!"})
    assert by_cookie.status_code == 200, by_cookie.text
    assert by_cookie.json()["body_html"] == "<p>First!</p>"
    assert by_cookie.json()["edited_at"] is not None
    client.cookies.clear()
    no_token = await client.patch(f"/api/v1/comments/{posted['id']}", json={"body": "Hijack"})
    assert no_token.status_code == 403
    assert no_token.json()["error"]["code"] == "not_your_comment"
    wrong = await client.patch(
        f"/api/v1/comments/{posted['id']}",
        json={"body": "Hijack"},
        headers={"X-Kibitz-Edit-Token": "not-the-token"},
    )
    assert wrong.status_code == 403
    by_header = await client.patch(
        f"/api/v1/comments/{posted['id']}",
        json={"body": "First, *edited*"},
        headers={"X-Kibitz-Edit-Token": posted["edit_token"]},
    )
    assert by_header.status_code == 200
    [c] = (await read_thread(client))["comments"]
    assert c["body_html"] == "<p>First, <em>edited</em></p>"


async def test_a_forged_edit_cookie_is_ignored(client) -> None:
    posted = await post_comment(client)
    client.cookies.clear()
    client.cookies.set(f"kibitz_edit_{posted['id']}", posted["edit_token"] + ".forged")
    r = await client.patch(f"/api/v1/comments/{posted['id']}", json={"body": "changed"})
    assert r.status_code == 403


async def test_edit_and_delete_after_the_window_are_refused(client, kb: Any) -> None:
    old = await comment_service.create(
        kb,
        NewComment(thread=THREAD, body="old words", author_name="Al"),
        Reader(),
        at=now() - timedelta(minutes=16),
    )
    headers = {"X-Kibitz-Edit-Token": old.edit_token}
    r = await client.patch(f"/api/v1/comments/{old.id}", json={"body": "new"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "edit_window_closed"
    r = await client.delete(f"/api/v1/comments/{old.id}", headers=headers)
    assert r.status_code == 403
    [c] = (await read_thread(client))["comments"]
    assert c["body_html"] == "<p>old words</p>"


async def test_delete_without_replies_removes_the_comment(client) -> None:
    keep = await post_comment(client, "stays")
    gone = await post_comment(client, "oops")
    r = await client.delete(f"/api/v1/comments/{gone['id']}")
    assert r.status_code == 200 and r.json() == {"comment": None}
    page = await read_thread(client)
    assert [c["id"] for c in page["comments"]] == [keep["id"]]
    assert page["thread"]["comment_count"] == 1
    again = await client.delete(
        f"/api/v1/comments/{gone['id']}", headers={"X-Kibitz-Edit-Token": gone["edit_token"]}
    )
    assert again.status_code == 404


async def test_delete_with_replies_leaves_a_placeholder(make_client: Any) -> None:
    author = await make_client()
    other = await make_client(kb=author.kb)
    parent = await post_comment(author, "a view", author_name="Al", author_url="https://al.example")
    reply = await post_comment(other, "a reply", parent_id=parent["id"])
    r = await author.delete(f"/api/v1/comments/{parent['id']}")
    assert r.json()["comment"]["status"] == "deleted"
    page = await read_thread(other)
    [placeholder] = page["comments"]
    assert placeholder["status"] == "deleted"
    assert placeholder["body_html"] == "" and placeholder["author"] == {"name": None, "url": None}
    assert [c["id"] for c in placeholder["replies"]] == [reply["id"]]
    assert page["thread"]["comment_count"] == 1
    # when the last reply goes too, the placeholder has nothing left to hold
    await other.delete(f"/api/v1/comments/{reply['id']}")
    page = await read_thread(other)
    assert page["comments"] == [] and page["thread"]["comment_count"] == 0


async def test_deleting_the_last_reply_under_a_chain_of_placeholders(make_client: Any) -> None:
    client = await make_client(rate_limits="edit.voter=1000/60,comment.voter=1000/60")
    a = await post_comment(client, "a")
    b = await post_comment(client, "b", parent_id=a["id"])
    c = await post_comment(client, "c", parent_id=b["id"])
    for x in (a, b):
        await client.delete(f"/api/v1/comments/{x['id']}")
    assert [x["status"] for x in flatten((await read_thread(client))["comments"])] == [
        "deleted", "deleted", "approved",
    ]  # fmt: skip
    await client.delete(f"/api/v1/comments/{c['id']}")
    assert (await read_thread(client))["comments"] == []


async def test_held_comments_answer_202_and_stay_out_of_the_thread(make_client: Any) -> None:
    client = await make_client(moderation="all")
    held = await post_comment(client, expect=202)
    assert held["status"] == "pending" and held["edit_token"]
    page = await read_thread(client)
    assert page["comments"] == [] and page["thread"]["comment_count"] == 0
    r = await post_comment(client, parent_id=held["id"], expect=422)
    assert r["error"]["code"] == "unknown_parent"


async def test_unknown_comment_routes_are_404_in_json(client) -> None:
    r = await client.patch("/api/v1/comments/424242", json={"body": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "comment_not_found"
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.put("/api/v1/comments", json={})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_writes_from_other_origins_are_refused(client) -> None:
    r = await client.post(
        "/api/v1/comments",
        json={"thread": THREAD, "body": "hi", "author_name": "Al"},
        headers={"Origin": "https://evil.example.com"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    preflight = await client.options(
        "/api/v1/comments",
        headers={
            "Origin": "https://evil.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert (await read_thread(client))["comments"] == []


async def test_cors_answers_the_sites_own_origins(make_client: Any) -> None:
    client = await make_client(allowed_origins=["https://news.example.org"])
    preflight = await client.options(
        "/api/v1/comments",
        headers={
            "Origin": "https://news.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.headers["access-control-allow-origin"] == "https://news.example.org"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    posted = await client.post(
        "/api/v1/comments",
        json={"thread": THREAD, "body": "hi", "author_name": "Al"},
        headers={"Origin": "https://news.example.org"},
    )
    assert posted.status_code == 201
    assert posted.headers["access-control-allow-origin"] == "https://news.example.org"


async def test_preview_renders_without_storing(client) -> None:
    r = await client.post("/api/v1/preview", json={"body": "**bold** <script>x</script>"})
    assert r.json() == {"body_html": "<p><strong>bold</strong> x</p>"}
    assert (await read_thread(client))["thread"]["comment_count"] == 0
