"""Imports from other comment systems, from sample exports written from each format's
documentation, as a reader then sees them, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import comments, import_records, threads
from kibitz.porting import importer
from kibitz.porting.mapping import KeyMapping
from kibitz.porting.records import ImportFailed
from tests.factories import flatten, post_comment, read_thread
from tests.porting_helpers import (
    DATA,
    PAGE,
    assert_counts_consistent,
    import_sample,
    isso_database,
    rows,
)


def by_author(page: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {c["author"]["name"]: c for c in flatten(page["comments"])}


async def test_disqus_threads_nesting_deleted_and_spam(client: Any) -> None:
    kb = client.kb
    report = await import_sample(kb, "disqus", "disqus.xml")
    assert report.threads_created == 2  # the http and https pages are one discussion
    assert report.comments_imported == 8
    assert report.statuses == {"approved": 6, "deleted": 1, "spam": 1}
    reasons = {(s.id, s.reason.split(" (")[0]) for s in report.skipped}
    assert ("3009", "missing or bad createdAt") in reasons
    assert any(i == "2004" and r.startswith("deleted in the source") for i, r in reasons)
    assert any(i == "3010" and "not in the file" in r for i, r in reasons)
    assert report.notices == {
        "replies whose parent is not in the file shown at the top level": 1,
        "pages without comments: no thread opened": 1,
    }

    page = await read_thread(client, PAGE, sort="oldest")
    assert page["thread"]["title"] == "Russia Strengthening Its Bases"
    assert page["thread"]["comment_count"] == 5
    top = page["comments"]
    anna, placeholder, finn = top
    assert anna["author"]["name"] == "Anna"
    assert anna["created_at"].startswith("2021-06-01T09:00:00")
    assert "<strong>analysis</strong>" in anna["body_html"]
    # Disqus's redirect wrapper is undone; the link is rendered like any comment's link
    assert 'href="https://example.org/report"' in anna["body_html"]
    assert "*stars*" in anna["body_html"] and "1 &lt; 2" in anna["body_html"]
    [boris] = anna["replies"]
    assert boris["author"]["name"] == "Борис" and "日本語 😀" in boris["body_html"]
    [carl] = boris["replies"]
    assert carl["author"]["name"] == "Carl Third"
    assert placeholder["status"] == "deleted" and placeholder["author"]["name"] is None
    assert placeholder["body_html"] == ""
    assert [r["author"]["name"] for r in placeholder["replies"]] == ["Eve"]
    assert finn["author"]["name"] == "Finn"
    assert "Spammer" not in json.dumps(page)

    closed = await read_thread(client, "/2020/01/archive-piece/")
    assert closed["thread"]["closed"] is True
    assert by_author(closed)["Guest"]["body_html"] == "<p>Plain text without markup</p>"
    await assert_counts_consistent(kb)


async def test_imported_html_is_sanitised_like_a_new_comment(client: Any) -> None:
    kb = client.kb
    await import_sample(kb, "disqus", "disqus.xml")
    page = await read_thread(client, PAGE)
    carl = by_author(page)["Carl Third"]
    assert "<script" not in carl["body_html"] and "javascript:" not in carl["body_html"]
    assert "onerror" not in carl["body_html"] and "alert" not in carl["body_html"]
    [row] = [r for r in await rows(kb) if r.author_name == "Anna"]
    # the stored HTML is exactly what rendering its Markdown as a new comment gives
    posted = await post_comment(client, row.body_md, thread=PAGE)
    assert posted["body_html"] == row.body_html


async def test_addresses_are_only_kept_as_the_keyed_hash(kb: Any) -> None:
    await import_sample(kb, "disqus", "disqus.xml")
    everything = await rows(kb)
    anna = next(r for r in everything if r.author_name == "Anna")
    assert anna.ip_hash == kb.signer.ip_hash("203.0.113.5")
    boris = next(r for r in everything if r.author_name == "Борис")
    assert boris.ip_hash == kb.signer.ip_hash("2001:db8::1")
    dump = json.dumps([list(r) for r in everything], default=str)
    assert "203.0.113.5" not in dump and "2001:db8::1" not in dump
    carl = next(r for r in everything if r.author_name == "Carl Third")
    assert carl.author_email is None  # "not-an-address" is not kept
    deleted = next(r for r in everything if r.status == "deleted")
    assert deleted.body_md == "" and deleted.author_email is None and deleted.author_name == ""
    assert deleted.deleted_at is not None


SAMPLES = {
    "disqus": "disqus.xml",
    "wordpress": "wordpress.xml",
    "isso": None,  # its database, made from isso.sql
    "remark42": "remark42.jsonl",
    "commento": "commento.json",
}


@pytest.mark.parametrize("fmt", list(SAMPLES))
async def test_importing_again_changes_nothing(kb: Any, tmp_path: Path, fmt: str) -> None:
    sample = SAMPLES[fmt] or isso_database(tmp_path)
    first = await import_sample(kb, fmt, sample)
    assert first.comments_imported > 0
    before = [await rows(kb, table) for table in (comments, threads, import_records)]
    again = await import_sample(kb, fmt, sample)
    assert again.comments_imported == 0 and again.threads_created == 0
    assert again.threads_updated == 0
    assert again.threads_unchanged == first.threads_created + first.threads_updated
    assert again.comments_already_imported == first.comments_imported
    assert again.skipped_count == first.skipped_count
    assert [await rows(kb, table) for table in (comments, threads, import_records)] == before


async def test_a_newer_export_adds_only_what_is_new(kb: Any, tmp_path: Path) -> None:
    text = (DATA / "disqus.xml").read_text("utf-8")
    start = text.index('  <post dsq:id="3003">')
    end = text.index("  <!-- deleted, with a published reply")
    older = tmp_path / "older.xml"
    older.write_text(text[:start] + text[end:], "utf-8")
    await import_sample(kb, "disqus", older)
    newer = await import_sample(kb, "disqus", "disqus.xml")
    assert newer.comments_imported == 1 and newer.threads_updated == 1
    everything = await rows(kb)
    carl = next(r for r in everything if r.author_name == "Carl Third")
    boris = next(r for r in everything if r.author_name == "Борис")
    assert carl.parent_id == boris.id and carl.depth == 2
    await assert_counts_consistent(kb)


async def test_a_dry_run_reports_the_same_and_writes_nothing(kb: Any) -> None:
    dry = await import_sample(kb, "disqus", "disqus.xml", dry_run=True)
    assert dry.dry_run and dry.comments_imported == 8 and dry.threads_created == 2
    assert await rows(kb) == [] and await rows(kb, threads) == []
    real = await import_sample(kb, "disqus", "disqus.xml")
    for field in ("threads_created", "comments_imported", "statuses", "skipped_count", "notices"):
        assert getattr(dry, field) == getattr(real, field)


async def test_a_thread_that_fails_is_left_whole_and_the_others_go_on(
    kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kibitz.services import threads as thread_service

    real_bump = thread_service.bump

    def failing(conn: Any, thread_id: int, **changes: Any) -> None:
        key = conn.execute(sa.select(threads.c.key).where(threads.c.id == thread_id)).scalar()
        if key == PAGE:  # after its comments were inserted
            raise RuntimeError("disk full")
        real_bump(conn, thread_id, **changes)

    monkeypatch.setattr(thread_service, "bump", failing)
    report = await import_sample(kb, "disqus", "disqus.xml")
    assert report.failed_threads == 1 and report.threads_created == 1
    assert any("disk full" in s.reason and s.where == PAGE for s in report.skipped)
    assert [t.key for t in await rows(kb, threads)] == ["/2020/01/archive-piece/"]
    assert len(await rows(kb)) == 1
    monkeypatch.setattr(thread_service, "bump", real_bump)
    retry = await import_sample(kb, "disqus", "disqus.xml")
    assert retry.comments_imported == 7 and retry.threads_unchanged == 1
    await assert_counts_consistent(kb)


async def test_wordpress_with_wpdiscuz_meta(client: Any) -> None:
    kb = client.kb
    report = await import_sample(kb, "wordpress", "wordpress.xml")
    assert report.threads_created == 2  # the page without comments opens no thread
    assert report.statuses == {"approved": 4, "pending": 1, "spam": 1, "rejected": 1}
    skipped = {s.id: s.reason for s in report.skipped}
    assert "private" in skipped["18"] and "date" in skipped["19"]
    assert any(m.startswith("pingbacks skipped") for m in report.notices)
    for feature in ("sticky", "closed", "inline-feedback"):
        assert any(feature in m for m in report.notices), feature

    page = await read_thread(client, PAGE, sort="oldest")
    people = by_author(page)
    assert set(people) == {"Anna", "Борис", "Inline reader"}
    anna = people["Anna"]
    assert anna["body_html"] == (
        "<p>First line<br>\nsecond line</p>\n<p>New paragraph with <strong>bold</strong> and a "
        '<a href="https://example.org/" target="_blank" rel="nofollow ugc noopener">link</a>.</p>'
    )
    assert anna["author"]["url"] == "https://anna.example.org"
    assert anna["votes"] == {"up": 5, "down": 2, "score": 3}  # likes and dislikes apart
    assert people["Борис"]["votes"] == {"up": 0, "down": 2, "score": -2}  # only the sum known
    assert people["Борис"]["parent_id"] == anna["id"]
    # wpDiscuz closes a top-level comment and its replies: kibitz closes its conversation
    assert anna["pinned"] is True and anna["replies_closed"] is True
    assert page["comments"][0]["id"] == anna["id"]  # pinned first, even sorted oldest first
    assert people["Inline reader"]["pinned"] is False
    refused = await client.post(
        "/api/v1/comments",
        json={"thread": PAGE, "body": "Me too", "author_name": "Late", "parent_id": anna["id"]},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "replies_closed"

    closed = await read_thread(client, "/2020/01/closed/")
    assert closed["thread"]["closed"] is True
    html = closed["comments"][0]["body_html"]
    assert "<pre><code>code *stays* code" in html
    # WordPress shows backticks as they are, and never a script: nor does kibitz
    assert "Text with `backticks` and tags" in html
    assert "<script" not in html and "alert" not in html

    records = await rows(kb, import_records)
    metas = {r.source_id: json.loads(r.meta) for r in records if r.meta}
    assert metas == {
        "11": {"closed": True, "sticky": True},
        "12": {"closed": True},
        "14": {"feedback_form_id": "7"},
    }
    await assert_counts_consistent(kb)


async def test_wordpress_pingbacks_can_be_kept(client: Any) -> None:
    report = await import_sample(client.kb, "wordpress", "wordpress.xml", pingbacks="keep")
    assert report.statuses["approved"] == 5
    page = await read_thread(client, PAGE)
    pingback = by_author(page)["Wednesday Reading « Cynwise's Manual"]
    assert pingback["body_html"] == "<p>[…] a good read about bases […]</p>"


async def test_isso_database(client: Any, tmp_path: Path) -> None:
    kb = client.kb
    report = await import_sample(kb, "isso", isso_database(tmp_path))
    assert report.statuses == {"approved": 4, "deleted": 1, "pending": 1}
    assert [s.id for s in report.skipped] == ["7"]
    page = await read_thread(client, PAGE, sort="oldest")
    anna, placeholder = page["comments"]
    assert anna["votes"] == {"up": 4, "down": 1, "score": 3}
    assert anna["author"]["url"] == "https://anna.example.org"
    assert "<strong>Markdown</strong>" in anna["body_html"]
    assert anna["created_at"].startswith("2021-06-01T09:00:00.25")
    [bob] = anna["replies"]
    assert bob["edited_at"] is not None
    assert placeholder["status"] == "deleted"
    # Isso keeps Markdown: its raw HTML is dropped like a new comment's, the text kept
    reply = placeholder["replies"][0]["body_html"]
    assert reply == "<p>Reply to a deleted comment alert(1)</p>"
    unicode = await read_thread(client, "/blog/ünïcode/")
    assert unicode["comments"][0]["author"]["name"] == "Guest"
    # the Isso session key in its preferences table is never read
    assert "secret-not-imported" not in json.dumps([list(r) for r in await rows(kb)], default=str)
    await assert_counts_consistent(kb)


async def test_isso_json_and_ids_per_thread(client: Any) -> None:
    report = await import_sample(client.kb, "isso", "isso.json")
    assert report.comments_imported == 4 and report.threads_created == 2
    assert {s.reason for s in report.skipped} == {
        "missing or bad created time",
        "thread without an id",
    }
    page = await read_thread(client, "/blog/article1", sort="oldest")
    _james, harold = page["comments"]
    assert [r["author"]["name"] for r in harold["replies"]] == ["Reply writer"]
    second = await read_thread(client, "/blog/article2")
    assert second["comments"][0]["author"]["name"] == "Anna"


async def test_remark42_backup_gzipped(client: Any, tmp_path: Path) -> None:
    kb = client.kb
    packed = tmp_path / "backup-southfront-20210601.gz"
    packed.write_bytes(gzip.compress((DATA / "remark42.jsonl").read_bytes()))
    report = await import_sample(kb, "remark42", packed)
    assert report.statuses == {"approved": 4, "deleted": 1}
    assert {(s.id, s.where) for s in report.skipped} == {("c6", "line 7"), ("", "line 8")}
    assert any("blocked users" in m for m in report.notices)
    page = await read_thread(client, PAGE, sort="oldest")
    anna, placeholder = page["comments"]
    assert anna["votes"] == {"up": 2, "down": 0, "score": 2}
    assert anna["body_html"] == "<p>First <strong>comment</strong></p>"
    assert anna["created_at"].startswith("2021-06-01T14:00:00.123456")  # -05:00 in UTC
    [boris] = anna["replies"]
    assert boris["votes"]["down"] == 1 and boris["edited_at"] is not None
    assert placeholder["status"] == "deleted"
    carl = placeholder["replies"][0]
    assert "javascript" not in carl["body_html"] and "<em>fine</em>" in carl["body_html"]
    closed = await read_thread(client, "/2020/01/closed/")
    assert closed["thread"]["closed"] is True
    metas = [json.loads(r.meta) for r in await rows(kb, import_records) if r.meta]
    assert metas == [{"pinned": True}]
    # Remark42 pinned a reply: kibitz pins only top-level comments, and says so
    assert carl["pinned"] is False
    assert any("pinned replies" in m for m in report.notices)
    # Remark42 hashed its addresses itself: nothing is kept
    assert all(r.ip_hash is None for r in await rows(kb))


async def test_commento_export(client: Any) -> None:
    report = await import_sample(client.kb, "commento", "commento.json")
    assert report.statuses == {"approved": 4, "pending": 1, "spam": 1, "deleted": 1}
    page = await read_thread(client, PAGE, sort="oldest")
    people = by_author(page)
    assert people["Guest"]["votes"]["up"] == 1  # an anonymous commenter
    assert people["User5276"]["votes"] == {"up": 0, "down": 2, "score": -2}
    assert people["User5276"]["author"]["url"] == "https://example.com/profile/257"
    assert people["Saturnin Uf"]["author"]["url"] is None  # "undefined"
    other = await read_thread(client, "/other/")
    assert other["comments"][0]["body_html"] == "<p>Only <strong>HTML</strong> here</p>"
    assert other["thread"]["url"] == "https://old.example.com/other/"


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("disqus", None, "not a well-formed Disqus XML file"),
        ("disqus", "wordpress.xml", "not a Disqus export"),
        ("wordpress", "disqus.xml", "not a WordPress export"),
        ("commento", b'{"comments": [', "not valid JSON"),
        ("remark42", b"<html>", "not a Remark42 backup"),
        ("isso", b"\x00\x01binary", "not valid JSON"),
        ("remark42", b"\x1f\x8b\x08\x00garbage", "cannot be read"),
        (
            "disqus",
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<disqus xmlns="http://disqus.com"><thread>&b;</thread></disqus>',
            "declares XML entities",
        ),
    ],
)
async def test_bad_files_import_nothing(
    kb: Any, tmp_path: Path, fmt: str, content: bytes | str | None, message: str
) -> None:
    if content is None:
        path = DATA / "disqus-truncated.xml"
    elif isinstance(content, str):
        path = DATA / content
    else:
        path = tmp_path / "bad"
        path.write_bytes(content)
    with pytest.raises(ImportFailed, match=message):
        await import_sample(kb, fmt, path)
    assert await rows(kb) == [] and await rows(kb, threads) == []


WHEN = "2021-06-01T10:00:00Z"
OUT_OF_RANGE = "0001-01-01T00:00:00+01:00"  # before year 1 in UTC


def _jsonl(*items: Any) -> bytes:
    return "".join(json.dumps(i) + "\n" for i in items).encode()


def _remark42(cid: str, **fields: Any) -> dict[str, Any]:
    return {"id": cid, "locator": {"url": "https://old.example.com/p/"}, "time": WHEN,
            "orig": f"Comment {cid}", "user": {"name": "Anna"}, **fields}  # fmt: skip


def _commento(cid: str, **fields: Any) -> dict[str, Any]:
    return {"commentHex": cid, "url": "/p/", "creationDate": WHEN, "markdown": "x", **fields}


def _disqus() -> bytes:
    def post(pid: str, when: str) -> str:
        return (f'<post dsq:id="{pid}"><message><![CDATA[<p>Post {pid}</p>]]></message>'
                f"<createdAt>{when}</createdAt><author><name>A</name></author>"
                '<thread dsq:id="1"/></post>')  # fmt: skip

    return (
        '<?xml version="1.0"?><disqus xmlns="http://disqus.com" '
        'xmlns:dsq="http://disqus.com/disqus-internals">'
        '<thread dsq:id="1"><link>https://old.example.com/p/</link><title>P</title>'
        "<createdAt>last tuesday</createdAt></thread>"
        + post("good", WHEN)
        + post("far", OUT_OF_RANGE)
        + "</disqus>"
    ).encode()


def _wordpress() -> bytes:
    def comment(cid: str, when: str, votes: str = "1") -> str:
        return (f"<wp:comment><wp:comment_id>{cid}</wp:comment_id>"
                f"<wp:comment_author>A</wp:comment_author><wp:comment_date>{when}"
                f"</wp:comment_date><wp:comment_date_gmt>{when}</wp:comment_date_gmt>"
                f"<wp:comment_content>Comment {cid}</wp:comment_content>"
                "<wp:comment_approved>1</wp:comment_approved>"
                "<wp:commentmeta><wp:meta_key>wpdiscuz_votes</wp:meta_key>"
                f"<wp:meta_value>{votes}</wp:meta_value></wp:commentmeta>"
                "</wp:comment>")  # fmt: skip

    return (
        '<?xml version="1.0"?><rss xmlns:wp="http://wordpress.org/export/1.2/"><channel>'
        "<item><title>P</title><link>https://old.example.com/p/</link>"
        "<wp:post_id>5</wp:post_id><wp:post_date_gmt>never</wp:post_date_gmt>"
        + comment("1", "2021-06-01 10:00:00", votes="99999999999999999999999")
        + comment("2", OUT_OF_RANGE)
        + "</item></channel></rss>"
    ).encode()


def _isso(tmp_path: Path) -> Path:
    path = isso_database(tmp_path)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO comments VALUES (1, 8, NULL, 1622538000.0, NULL, 1, NULL, 'binary', "
        "X'00ff', NULL, NULL, 0, 0, X'00', 0)"
    )
    db.execute(
        "INSERT INTO comments VALUES (1, 9, NULL, 1e300, NULL, 1, NULL, 'far', "
        "'Bob', NULL, NULL, 0, 0, X'00', 0)"
    )
    db.commit()
    db.close()
    return path


# format, the file, comments imported, then (id, reason) of each item skipped for its types
BAD_TYPES: list[tuple[str, Any, int, set[tuple[str, str]]]] = [
    ("commento", lambda _: json.dumps({"commenters": [
        {"commenterHex": "c1", "name": {"first": "Ann"}}, 7, "x"], "comments": [
        _commento("good", score=3), _commento("score", score="lots"),
        _commento("url", url={"path": "/p/"}), _commento("person", commenterHex="c1"),
        _commento("parent", parentHex=["good"])]}).encode(), 1,
        {("score", "score is 'lots', not a number"), ("url", "url is an object, not text"),
         ("person", "the commenter's name is an object, not text"),
         ("parent", "parentHex is a list, not text")}),
    ("remark42", lambda _: _jsonl(
        {"version": 1, "users": "everyone", "posts": 5}, _remark42("good"),
        _remark42("locator", locator="https://old.example.com/p/"),
        _remark42("user", user="Anna"), _remark42("edit", edit="yesterday"),
        _remark42("score", score="many"), _remark42("pid", pid={"id": "good"})), 1,
        {("locator", "locator is 'https://old.example.com/p/', not an object"),
         ("user", "user is 'Anna', not an object"), ("edit", "edit is 'yesterday', not an object"),
         ("score", "score is 'many', not a number"), ("pid", "pid is an object, not text")}),
    ("isso", lambda _: json.dumps([
        {"id": "/p/", "comments": [
            {"id": 1, "created": WHEN, "text": "Good", "author": "Ann"},
            {"id": 2, "created": WHEN, "text": "x", "author": {"a": 1}},
            {"id": 3, "created": WHEN, "text": "x", "parent": [1]},
            {"id": 4, "created": OUT_OF_RANGE, "text": "x"}]},
        {"id": {"path": "/q/"}, "comments": [{"id": 1, "created": WHEN, "text": "x"}]},
        {"id": "/r/", "title": ["R"], "comments": []}]).encode(), 1,
        {("/p/#2", "author is an object, not text"), ("/p/#3", "parent is a list, not text"),
         ("/p/#4", "missing or bad created time"), ("", "id is an object, not text"),
         ("/r/", "title is a list, not text")}),
    ("isso", _isso, 6,
        {("8", "author is binary data, not text"), ("9", "missing or bad created time"),
         ("7", "missing or bad created time")}),
    ("disqus", lambda _: _disqus(), 1, {("far", "missing or bad createdAt")}),
    ("wordpress", lambda _: _wordpress(), 1, {("2", "missing or bad comment date")}),
]  # fmt: skip


BAD_TYPE_IDS = ["commento", "remark42", "isso-json", "isso-db", "disqus", "wordpress"]


@pytest.mark.parametrize(("fmt", "make", "imported", "skipped"), BAD_TYPES, ids=BAD_TYPE_IDS)
async def test_wrongly_typed_fields_skip_the_item_and_say_which(
    kb: Any, tmp_path: Path, fmt: str, make: Any, imported: int, skipped: set[tuple[str, str]]
) -> None:
    made = make(tmp_path)
    if isinstance(made, bytes):
        path = tmp_path / "file"
        path.write_bytes(made)
    else:
        path = made
    report = await import_sample(kb, fmt, path)
    assert report.comments_imported == imported, report.skipped
    assert {(s.id, s.reason) for s in report.skipped} == skipped
    assert report.failed_threads == 0
    assert all(r.up <= 2**31 - 1 for r in await rows(kb))  # wpDiscuz's absurd vote count
    await assert_counts_consistent(kb)


async def test_a_parser_mistake_is_a_clear_refusal(
    kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kibitz.porting.sources import commento

    def broken(file: Any) -> Any:
        yield from ()
        raise KeyError("surprise")

    monkeypatch.setattr(commento, "parse", broken)
    with pytest.raises(ImportFailed, match=r"could not be read as a commento export \(KeyError"):
        await import_sample(kb, "commento", "commento.json")
    assert await rows(kb) == [] and await rows(kb, threads) == []


async def test_a_gzipped_isso_database(kb: Any, tmp_path: Path) -> None:
    packed = tmp_path / "comments.db.gz"
    packed.write_bytes(gzip.compress(isso_database(tmp_path).read_bytes()))
    report = await import_sample(kb, "isso", packed)
    assert report.comments_imported == 6 and report.statuses["approved"] == 4
    assert {t.key for t in await rows(kb, threads)} == {PAGE, "/blog/ünïcode/"}
    packed_json = tmp_path / "isso.json.gz"
    packed_json.write_bytes(gzip.compress((DATA / "isso.json").read_bytes()))
    assert (await import_sample(kb, "isso", packed_json, source="other")).comments_imported == 4


async def test_an_uncompressed_remark42_backup_comes_with_a_warning(
    kb: Any, tmp_path: Path
) -> None:
    """It has no end marker: cut at a line end, it looks whole."""
    lines = (DATA / "remark42.jsonl").read_bytes().splitlines(keepends=True)
    cut = tmp_path / "backup-cut"
    cut.write_bytes(b"".join(lines[:3]))
    report = await import_sample(kb, "remark42", cut)
    assert report.comments_imported == 2 and report.skipped_count == 0
    [warning] = report.warnings
    assert "no end marker" in warning and "cut off exactly at the end of a line" in warning
    packed = tmp_path / "backup.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    assert (await import_sample(kb, "remark42", packed)).warnings == []


async def test_remark42_user_addresses_are_not_kept(kb: Any, tmp_path: Path) -> None:
    path = tmp_path / "backup"
    path.write_bytes(
        _jsonl({"version": 1}, _remark42("a", user={"name": "A", "ip": "203.0.113.9"}))
    )
    await import_sample(kb, "remark42", path)
    [row] = await rows(kb)
    assert row.ip_hash is None


async def test_a_dry_run_on_sqlite_does_not_wait_for_the_write_lock(kb: Any) -> None:
    """Readers go on posting during a dry run: it never takes SQLite's write lock (here
    another writer holds it all along)."""
    if not kb.db.is_sqlite:
        pytest.skip("PostgreSQL has no database-wide write lock")
    path = kb.settings.database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        dry = await import_sample(kb, "disqus", "disqus.xml", dry_run=True)
    finally:
        other.rollback()
        other.close()
    assert dry.failed_threads == 0
    assert dry.comments_imported == 8 and dry.threads_created == 2
    assert await rows(kb) == []


async def test_addresses_mapped_to_new_keys(kb: Any, tmp_path: Path) -> None:
    mapping = KeyMapping(
        rewrites=(
            ("https://old.example.com/2021/", "https://new.example.com/archive/2021/"),
            ("http://old.example.com/2021/", "https://new.example.com/archive/2021/"),
        ),
        exact={"closed-one": "/moved/archive-piece"},
    )
    await import_sample(kb, "disqus", "disqus.xml", mapping=mapping)
    found = {t.key: t.url for t in await rows(kb, threads)}
    assert found == {
        "/archive/2021/06/russia-strengthening-bases/": "https://new.example.com/archive/2021/06/russia-strengthening-bases/",
        "/moved/archive-piece": "https://old.example.com/2020/01/archive-piece/",
    }


async def test_keys_from_the_source_identifier(kb: Any) -> None:
    await import_sample(kb, "disqus", "disqus.xml", mapping=KeyMapping(key_from="identifier"))
    keys = {t.key for t in await rows(kb, threads)}
    # the http thread has no identifier of its own: it keeps its path, apart
    assert keys == {"article-42", "closed-one", PAGE}


async def test_two_sites_of_one_kind_are_told_apart_by_their_label(kb: Any) -> None:
    await import_sample(kb, "isso", "isso.json")
    other = await import_sample(kb, "isso", "isso.json", source="isso-second-site")
    assert other.comments_imported == 4  # same ids, another source: imported again
    sources = {r.source for r in await rows(kb, import_records)}
    assert sources == {"isso", "isso-second-site"}


async def test_imports_send_no_mail_or_webhooks(kb: Any) -> None:
    from kibitz.db.tables import outbox

    await import_sample(kb, "disqus", "disqus.xml")
    assert await rows(kb, outbox) == []


async def test_comments_count_toward_existing_threads(client: Any) -> None:
    await post_comment(client, "Posted on kibitz before the import", thread=PAGE)
    report = await import_sample(client.kb, "disqus", "disqus.xml")
    assert report.threads_updated == 1
    page = await read_thread(client, PAGE)
    assert page["thread"]["comment_count"] == 6
    await assert_counts_consistent(client.kb)
    assert (await rows(client.kb, comments))[0].body_md == "Posted on kibitz before the import"


async def test_large_imports_render_in_worker_processes(
    kb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "PARALLEL_FROM", 1)
    report = await import_sample(kb, "disqus", "disqus.xml")
    assert report.comments_imported == 8 and report.statuses["approved"] == 6
    anna = next(r for r in await rows(kb) if r.author_name == "Anna")
    assert anna.ip_hash == kb.signer.ip_hash("203.0.113.5")
    assert "<strong>analysis</strong>" in anna.body_html
    await assert_counts_consistent(kb)


def test_the_command_reports_and_fails_clearly(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    kibitz = str(Path(sys.executable).with_name("kibitz"))
    env = {"PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
           "KIBITZ_LOG_LEVEL": "warning"}  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kibitz, *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    assert run("migrate").returncode == 0
    dry = run("import", "disqus", str(DATA / "disqus.xml"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing written" in dry.stdout
    assert "8 would be imported (6 approved, 1 deleted, 1 spam)" in dry.stdout
    assert "comment 3009 (post #9): missing or bad createdAt" in dry.stdout
    cut = run("import", "disqus", str(DATA / "disqus-truncated.xml"))
    assert cut.returncode == 1 and "Nothing was imported" in cut.stderr
    bad_map = tmp_path / "map.csv"
    bad_map.write_text("only-one-column\n")
    mapped = run("import", "disqus", str(DATA / "disqus.xml"), "--map-file", str(bad_map))
    assert mapped.returncode == 2 and "two columns" in mapped.stderr
    done = run("import", "disqus", str(DATA / "disqus.xml"), "--map",
               "https://old.example.com/", "https://news.example.com/")  # fmt: skip
    assert done.returncode == 0 and "2 created" in done.stdout
    typed = tmp_path / "backup"
    typed.write_bytes(_jsonl({"version": 1}, _remark42("a"), _remark42("b", user="Bob")))
    mixed = run("import", "remark42", str(typed))
    assert mixed.returncode == 0 and "Traceback" not in mixed.stderr, mixed.stderr
    assert "comment b (line 3): user is 'Bob', not an object" in mixed.stdout
    assert "warning: This uncompressed Remark42 backup has no end marker" in mixed.stdout
