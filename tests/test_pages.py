"""Articles and the reference page as a reader without JavaScript gets them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kibitz import reference
from kibitz.models import NewComment, Reader
from kibitz.services import articles
from kibitz.services import comments as comment_service
from kibitz.services.errors import Invalid
from kibitz.services.threads import now
from kibitz.web import pages
from tests.factories import read_thread

REF = "/2021/06/russia-is-strengthening-bases-in-kyrgyzstan-tajikistan"
TITLE = (
    "Russia Is Strengthening Bases In Kyrgyzstan, Tajikistan To Counter Militants Based In "
    "Afghanistan: Defense Minister"
)


def csrf_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def test_reference_article_is_served_at_the_root_with_its_discussion(
    make_client: Any,
) -> None:
    client = await make_client(site_name="SouthFront", support_url="https://example.org/donate")
    await reference.load(client.kb)
    html = (await client.get("/")).text
    assert f'<h1 class="story-title">{TITLE}</h1>' in html
    assert "June 2, 2021" in html and "IMAGE: mil.ru" in html
    assert html.count("Support SouthFront</a>") == 3  # masthead, before and after the story
    assert "the Russian military is strengthening its bases in Kyrgyzstan" in html
    assert "10 Comments" in html
    for name in ("You can call me Al", "peter mcloughlin", "Guest"):
        assert name in html
    assert 'placeholder="Would love your thoughts, please comment."' in html
    for label in ("Newest", "Oldest", "Most Voted"):
        assert f">{label}</a>" in html
    assert (
        '<a href="https://journal-neo.org/2019/04/28/sri-lanka-us-saudi-terror-targets-chinas-allies/"'
        in html
    )
    assert 'rel="nofollow ugc noopener"' in html
    at_its_path = (await client.get(REF)).text

    def stable(page: str) -> str:  # each render carries a fresh form token (its time)
        return re.sub(r'name="form_token" value="[^"]*"', "", page)

    assert stable(at_its_path) == stable(html.replace('href="/?', f'href="{REF}?'))


async def test_reference_discussion_orders_differ_in_every_sort(client: Any) -> None:
    await reference.load(client.kb)
    await reference.load(client.kb)  # loading again changes nothing
    orders = {}
    for sort in ("newest", "oldest", "most_voted", "best"):
        page = await read_thread(client, REF, sort=sort)
        orders[sort] = [c["id"] for c in page["comments"]]
        assert page["thread"]["comment_count"] == 10
    assert len({tuple(o) for o in orders.values()}) == 4
    [first] = [c for c in (await read_thread(client, REF, sort="oldest"))["comments"]][:1]
    assert first["author"]["name"] == "Guest"
    assert first["replies"][0]["author"]["name"] == "You can call me Al"
    assert first["replies"][0]["body_html"].startswith("<p>Well it is, but")


async def test_posting_without_javascript(client: Any) -> None:
    await reference.load(client.kb)
    page = await client.get(REF)
    token = csrf_token(page.text)
    form = {"_csrf_token": token, "thread": REF, "author_name": "Nadia",
            "body": "Plain *form* comment"}  # fmt: skip
    r = await client.post("/discussion/comments", data=form)
    assert r.status_code == 303
    assert re.fullmatch(rf"{REF}\?posted=posted#kibitz-comment-\d+", r.headers["location"])
    after = await client.get(r.headers["location"])
    assert "Comment posted." in after.text and "<em>form</em>" in after.text
    assert "11 Comments" in after.text


async def test_form_errors_show_next_to_the_field_and_keep_what_was_typed(client: Any) -> None:
    await reference.load(client.kb)
    token = csrf_token((await client.get(REF)).text)
    form = {"_csrf_token": token, "thread": REF, "author_name": "", "body": "Keep me"}
    r = await client.post("/discussion/comments", data=form)
    assert r.status_code == 422
    assert 'id="kb-author_name-error"' in r.text and "Please give your name." in r.text
    assert ">Keep me</textarea>" in r.text
    assert "10 Comments" in r.text


async def test_replying_without_javascript(client: Any) -> None:
    await reference.load(client.kb)
    [top] = (await read_thread(client, REF, sort="oldest", limit=1))["comments"]
    page = await client.get(f"{REF}?reply={top['id']}")
    assert f'name="parent_id" value="{top["id"]}"' in page.text
    form = {"_csrf_token": csrf_token(page.text), "thread": REF, "parent_id": str(top["id"]),
            "author_name": "Nadia", "body": "A reply"}  # fmt: skip
    assert (await client.post("/discussion/comments", data=form)).status_code == 303
    [top] = (await read_thread(client, REF, sort="oldest", limit=1))["comments"]
    assert top["replies"][-1]["body_html"] == "<p>A reply</p>"


async def test_the_form_needs_its_csrf_token(client: Any) -> None:
    await reference.load(client.kb)
    await client.get(REF)
    form = {"thread": REF, "author_name": "Mallory", "body": "forged"}
    r = await client.post("/discussion/comments", data=form)
    assert r.status_code == 403
    assert (await read_thread(client, REF))["thread"]["comment_count"] == 10


async def test_article_pages_from_markdown_files(client: Any, tmp_path: Path) -> None:
    file = tmp_path / "a.md"
    file.write_text(
        "---\ntitle: A quiet day\ndate: 2024-03-05\nslug: quiet-day\n---\nNothing *happened*.\n"
    )
    saved = await articles.add_file(client.kb, file)
    assert saved.path == "/2024/03/quiet-day"
    r = await client.get("/2024/03/quiet-day")
    assert r.status_code == 200 and "<em>happened</em>" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert (await read_thread(client, "/2024/03/quiet-day"))["thread"]["title"] == "A quiet day"
    # the newest article is the home page
    assert "A quiet day" in (await client.get("/")).text
    assert (await client.get("/2024/03/not-there")).status_code == 404


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("no front matter", "no_front_matter"),
        ("---\ntitle: [unclosed\n---\nbody", "invalid_front_matter"),
        ("---\ndate: 2024-01-01\n---\nbody", "required"),
        ("---\ntitle: T\ndate: someday\n---\nbody", "invalid_date"),
        ("---\ntitle: T\ndate: 2024-01-01\npath: /a b\n---\nbody", "invalid_path"),
    ],
)
def test_bad_article_files_are_refused_clearly(text: str, code: str) -> None:
    with pytest.raises(Invalid) as info:
        articles.parse(text)
    assert info.value.code == code


async def test_a_missing_page_is_an_html_page_for_browsers_and_json_for_programs(
    client: Any,
) -> None:
    page = await client.get("/2099/01/nothing", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Page not found" in page.text
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get("/api/v1/nope", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


async def test_a_locked_database_is_503_with_retry_after(make_client: Any) -> None:
    client = await make_client()
    if not client.kb.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    import sqlite3

    holder = sqlite3.connect(client.kb.db.url.database, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    client.kb.db.writer.pool.dispose()
    try:
        from sqlalchemy import event

        @event.listens_for(client.kb.db.writer, "connect")
        def short_timeout(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=50")

        r = await client.post(
            "/api/v1/comments", json={"thread": "/x", "body": "hi", "author_name": "Al"}
        )
    finally:
        holder.rollback()
        holder.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "unavailable"
    assert (await read_thread(client, "/x"))["thread"]["comment_count"] == 0


async def test_view_all_comments_shows_the_whole_discussion_without_javascript(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(page_size=5)
    key = "/2024/05/a-long-discussion"
    start = now() - timedelta(hours=1)
    for i in range(12):
        await comment_service.create(
            client.kb,
            NewComment(thread=key, body=f"Comment number {i:02d}.", author_name="Al"),
            Reader(),
            at=start + timedelta(minutes=i),
        )
    shown = re.compile(r"Comment number (\d\d)\.")

    first = await client.get("/discussion", params={"thread": key, "sort": "oldest"})
    assert shown.findall(first.text) == [f"{i:02d}" for i in range(5)]
    more = re.search(r'<a class="kb-more" href="([^"]+)">View all comments</a>', first.text)
    assert more, "a long discussion offers all of it"
    link = more.group(1).replace("&amp;", "&")
    last_seen = re.findall(r'id="kibitz-comment-(\d+)"', first.text)[-1]
    assert link.endswith(f"#kibitz-comment-{last_seen}")  # the reader stays where they were

    everything = await client.get(link)
    # all of it, the first five included (not just the page after them)
    assert shown.findall(everything.text) == [f"{i:02d}" for i in range(12)]
    assert "View all comments" not in everything.text and "goes on" not in everything.text

    # past the cap, it says so and goes on from there
    monkeypatch.setattr(pages, "VIEW_ALL_MAX", 8)
    capped = await client.get(link)
    assert shown.findall(capped.text) == [f"{i:02d}" for i in range(8)]
    assert "The discussion goes on after these 8 comments." in capped.text
    after = re.search(r'<a class="kb-more" href="([^"]+)">Next comments</a>', capped.text)
    assert after
    rest = await client.get(after.group(1).replace("&amp;", "&"))
    assert shown.findall(rest.text) == [f"{i:02d}" for i in range(8, 12)]
    assert "Back to the first comments" in rest.text


async def test_the_reference_discussion_loads_whatever_the_guest_form_asks(
    make_client: Any,
) -> None:
    """The sample discussion was typed by no reader: a site that wants an e-mail address and
    no websites still gets it (`kibitz demo`), while readers' comments follow the rules."""
    client = await make_client(require_email=True, allow_website=False)
    await reference.load(client.kb)
    assert (await read_thread(client, REF))["thread"]["comment_count"] == 10
    r = await client.post(
        "/api/v1/comments", json={"thread": REF, "body": "Hi", "author_name": "Al"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "author_email"
