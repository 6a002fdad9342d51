"""Long threads: keyset pages, counts, the cache and 304s."""

from __future__ import annotations

import base64
import random
from datetime import timedelta
from typing import Any

import msgspec
import sqlalchemy as sa

from kibitz.db.tables import comments, threads
from kibitz.models import NewThread
from kibitz.services import threads as thread_service
from kibitz.services.reading import wilson_lower_bound
from kibitz.services.threads import now
from tests.factories import THREAD, post_comment, read_thread, vote

LONG = "/2021/06/long-thread"


async def seed_long_thread(kb: Any, n: int = 1000) -> list[dict[str, Any]]:
    """n top-level comments, three to a timestamp and with many equal scores, plus replies."""
    await thread_service.create(kb, NewThread(key=LONG, title="Long"))
    rng = random.Random(7)
    base = now() - timedelta(days=3)
    rows = []
    for i in range(n):
        up, down = rng.randint(0, 4), rng.randint(0, 2)
        rows.append({
            "status": "approved", "author_name": f"reader {i}", "body_md": f"comment {i}",
            "body_html": f"<p>comment {i}</p>", "created_at": base + timedelta(seconds=i // 3),
            "up": up, "down": down, "score": up - down, "wilson": wilson_lower_bound(up, down),
        })  # fmt: skip

    def insert(conn: Any) -> list[int]:
        thread_id = conn.execute(sa.select(threads.c.id).where(threads.c.key == LONG)).scalar()
        conn.execute(sa.insert(comments), [{"thread_id": thread_id, **r} for r in rows])
        ids = conn.execute(sa.select(comments.c.id).order_by(comments.c.id)).scalars().all()
        replies = [
            {"thread_id": thread_id, "parent_id": ids[j], "root_id": ids[j], "depth": 1,
             "status": "approved", "author_name": "replier", "body_md": "re",
             "body_html": "<p>re</p>", "created_at": base + timedelta(days=1, seconds=j)}
            for j in range(0, n, 10)
        ]  # fmt: skip
        conn.execute(sa.insert(comments), replies)
        conn.execute(
            sa.update(comments)
            .where(comments.c.id.in_([ids[j] for j in range(0, n, 10)]))
            .values(reply_count=1)
        )
        conn.execute(
            sa.update(threads)
            .where(threads.c.id == thread_id)
            .values(comment_count=n + len(replies))
        )
        return list(ids)

    ids = await kb.db.write(insert)
    for r, i in zip(rows, ids, strict=True):
        r["id"] = i
    kb.cache.invalidate(LONG)
    return rows


def expected(rows: list[dict[str, Any]], sort: str) -> list[int]:
    if sort == "newest":
        key: Any = lambda r: (r["created_at"], r["id"])  # noqa: E731
        return [r["id"] for r in sorted(rows, key=key, reverse=True)]
    if sort == "oldest":
        return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]))]
    column = "score" if sort == "most_voted" else "wilson"
    return [r["id"] for r in sorted(rows, key=lambda r: (-r[column], r["created_at"], r["id"]))]


async def test_paging_a_1000_comment_thread_has_no_gaps_and_no_duplicates(
    client: Any, kb: Any
) -> None:
    rows = await seed_long_thread(client.kb)
    for sort in ("newest", "oldest", "most_voted", "best"):
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            params = {"sort": sort, "limit": 77}
            if cursor:
                params["cursor"] = cursor
            page = await read_thread(client, LONG, **params)
            seen += [c["id"] for c in page["comments"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected(rows, sort), sort
        assert pages == 13


async def test_first_page_has_the_default_size_and_replies(client: Any) -> None:
    await seed_long_thread(client.kb, n=120)
    page = await read_thread(client, LONG, sort="oldest")
    assert len(page["comments"]) == 50 and page["next_cursor"]
    assert page["thread"]["comment_count"] == 132
    assert [len(c["replies"]) for c in page["comments"][:11]] == [1] + [0] * 9 + [1]


async def test_a_comment_posted_while_paging_neither_repeats_nor_hides_one(client: Any) -> None:
    rows = await seed_long_thread(client.kb, n=30)
    first = await read_thread(client, LONG, sort="oldest", limit=10)
    await post_comment(client, "late", thread=LONG)
    second = await read_thread(client, LONG, sort="oldest", limit=10, cursor=first["next_cursor"])
    assert [c["id"] for c in first["comments"] + second["comments"]] == expected(rows, "oldest")[
        :20
    ]


def cursor(sort: str, value: float | None, comment_id: int) -> str:
    """A cursor as a client could make one by hand (kibitz.services.reading's format)."""
    raw = msgspec.json.encode([sort, value, "2024-01-01T00:00:00Z", comment_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def test_bad_cursors_and_limits(client: Any) -> None:
    await seed_long_thread(client.kb, n=10)
    page = await read_thread(client, LONG, sort="newest", limit=5)
    for params, field in [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": page["next_cursor"], "sort": "most_voted"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        # hand-made cursors with numbers no column holds, or of the wrong kind
        ({"cursor": cursor("newest", None, 2**70)}, "cursor"),
        ({"cursor": cursor("newest", None, 0)}, "cursor"),
        ({"cursor": cursor("most_voted", 2**70, 5), "sort": "most_voted"}, "cursor"),
        ({"cursor": cursor("most_voted", 2**40, 5), "sort": "most_voted"}, "cursor"),
        ({"cursor": cursor("most_voted", 1.5, 5), "sort": "most_voted"}, "cursor"),
        ({"cursor": cursor("best", 2**70, 5), "sort": "best"}, "cursor"),
    ]:
        r = await client.get("/api/v1/comments", params={"thread": LONG, **params})
        assert r.status_code == 422, params
        assert r.json()["error"]["field"] == field
    # the same format within range is a cursor like any other
    for sort, value in [("newest", None), ("most_voted", 2**31 - 1), ("best", 0.5)]:
        r = await client.get(
            "/api/v1/comments",
            params={"thread": LONG, "sort": sort, "cursor": cursor(sort, value, 2**63 - 1)},
        )
        assert r.status_code == 200, (sort, r.text)


async def test_missing_thread_parameter(client: Any) -> None:
    r = await client.get("/api/v1/comments")
    assert r.status_code == 422 and r.json()["error"]["field"] == "thread"


async def test_a_thread_without_comments_reads_empty(client: Any) -> None:
    page = await read_thread(client, "/not-yet-discussed")
    assert page == {
        "thread": {"key": "/not-yet-discussed", "title": "", "url": "", "comment_count": 0,
                   "closed": False, "last_event_id": 0},
        "comments": [],
        "next_cursor": None,
    }  # fmt: skip


async def test_etag_and_304_until_the_thread_changes(make_client: Any) -> None:
    author = await make_client()
    reader = await make_client(kb=author.kb)
    c = await post_comment(author)
    first = await reader.get("/api/v1/comments", params={"thread": THREAD})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = await reader.get(
        "/api/v1/comments", params={"thread": THREAD}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    await vote(reader, c["id"], 1)
    changed = await reader.get(
        "/api/v1/comments", params={"thread": THREAD}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["comments"][0]["votes"]["up"] == 1


async def test_reads_are_served_from_the_cache_and_every_write_invalidates(
    make_client: Any,
) -> None:
    author = await make_client(rate_limits="edit.voter=100/60")
    reader = await make_client(kb=author.kb)
    stats = author.kb.cache.stats
    c = await post_comment(author, "one")

    async def body() -> str:
        return (await reader.get("/api/v1/comments", params={"thread": THREAD})).text

    await body()
    hits = stats.hits
    assert "one" in await body() and stats.hits == hits + 1
    for change, expect in [
        (lambda: author.patch(f"/api/v1/comments/{c['id']}", json={"body": "two"}), "two"),
        (lambda: vote(reader, c["id"], 1), '"up":1'),
        (lambda: post_comment(author, "three"), "three"),
        (lambda: author.delete(f"/api/v1/comments/{c['id']}"), '"comment_count":1'),
    ]:
        await change()
        assert expect in await body()


async def test_the_cache_is_shared_across_processes_on_one_database(make_kb: Any) -> None:
    """Two kibitz processes (two contexts here) on one database: a write through one is
    seen at once by the other, without waiting for anything to expire."""

    one = await make_kb()
    two = await make_kb()
    assert one.cache is not two.cache
    import httpx

    from kibitz.app import create_app

    def client_for(kb: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(kb=kb))
        return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")

    async with client_for(one) as a, client_for(two) as b:
        await post_comment(a, "first")
        assert (await read_thread(b))["thread"]["comment_count"] == 1
        await post_comment(a, "second")
        assert (await read_thread(b))["thread"]["comment_count"] == 2
        counts = (await b.get("/api/v1/counts", params={"thread": THREAD})).json()
        assert counts == {"counts": {THREAD: 2}}
        await post_comment(a, "third")
        counts = (await b.get("/api/v1/counts", params={"thread": THREAD})).json()
        assert counts == {"counts": {THREAD: 3}}


async def test_counts_for_many_threads(make_client: Any) -> None:
    client = await make_client(rate_limits="comment.voter=100/60")
    for key, n in (("/a", 3), ("/b", 1)):
        for _ in range(n):
            await post_comment(client, thread=key)
    r = await client.get("/api/v1/counts", params=[("thread", "/a"), ("thread", "/b"),
                                                   ("thread", "/none")])  # fmt: skip
    assert r.json() == {"counts": {"/a": 3, "/b": 1, "/none": 0}}
    etag = r.headers["etag"]
    again = await client.get(
        "/api/v1/counts", params=[("thread", "/a"), ("thread", "/b"), ("thread", "/none")],
        headers={"If-None-Match": etag},
    )  # fmt: skip
    assert again.status_code == 304
    posted = await client.post("/api/v1/counts", json={"threads": ["/b", "/a"]})
    assert posted.json() == {"counts": {"/b": 1, "/a": 3}}
    await post_comment(client, thread="/b")
    assert (await client.post("/api/v1/counts", json={"threads": ["/b"]})).json() == {
        "counts": {"/b": 2}
    }
    too_many = await client.post("/api/v1/counts", json={"threads": [f"/{i}" for i in range(101)]})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "threads"
    wrong = await client.post("/api/v1/counts", json={"threads": "/a"})
    assert wrong.status_code == 422
