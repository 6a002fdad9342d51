"""Backups: export, restore into an empty database, export again: the same archive, on SQLite,
on PostgreSQL and from one to the other; what the archive holds; scheduled backups."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kibitz.app import create_app
from kibitz.backup import archive, schedule
from kibitz.backup.restore import RestoreFailed, restore
from kibitz.context import Kibitz
from kibitz.db import migrate
from kibitz.db.engine import Database
from kibitz.db.tables import api_tokens, comments, outbox
from kibitz.services import audit, bans, moderation, tokens
from kibitz.settings import Settings
from tests.conftest import ENGINES, NO_MODERATION, ORIGIN, SECRET
from tests.factories import post_comment, read_thread, vote
from tests.funding_factories import give, make_campaign
from tests.moderators import make_account
from tests.porting_helpers import PAGE, import_sample, rows
from tests.test_api_passages import PATH as PASSAGE_PAGE
from tests.test_api_passages import listing as passage_listing
from tests.test_api_passages import publish

KIBITZ = str(Path(sys.executable).with_name("kibitz"))


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Make empty databases (no tables) on the engine asked for: a function of the engine."""
    made: list[str] = []

    def make(engine: str) -> str:
        made.append(engine)
        if engine == "sqlite":
            return f"sqlite:///{tmp_path / f'site{len(made)}.db'}"
        # the fixture gives one fresh PostgreSQL database per test
        assert made.count("postgresql") == 1, "one PostgreSQL database per test"
        url: str = request.getfixturevalue("fresh_postgres_url")
        return url

    return make


async def kibitz_on(url: str, **overrides: Any) -> Kibitz:
    settings = Settings(database_url=url, secret_key=SECRET, public_url=ORIGIN, **NO_MODERATION)
    kb = Kibitz.create(replace(settings, **overrides))
    await migrate.upgrade(kb.db)
    return kb


async def a_site(kb: Kibitz) -> None:
    """Something of everything a site holds: comments, replies, votes, an edit, a deletion,
    subscribers, imported history, an API token and queued mail; a moderator's account, a
    moderation action in the audit log, a ban and a reader's report; an article with a
    passage and a comment on it; a campaign with a donor, a donation and its refund."""
    transport = httpx.ASGITransport(app=create_app(kb=kb), client=("203.0.113.7", 4321))
    async with (
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as reader,
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as other,
    ):
        top = await post_comment(
            reader,
            "First! With **Markdown** and ünïcode 😀",
            author_email="reader@example.org",
            notify="thread",
        )
        reply = await post_comment(
            reader,
            "A reply",
            parent_id=top["id"],
            author_email="r2@example.org",
            notify_replies=True,
        )
        await vote(other, top["id"], 1)
        await vote(other, reply["id"], -1)
        gone = await post_comment(other, "I will delete this")
        await other.delete(
            f"/api/v1/comments/{gone['id']}", headers={"X-Kibitz-Edit-Token": gone["edit_token"]}
        )
        rude = await post_comment(other, "Something rude", author_email="rude@example.org")
        reported = await other.post(f"/api/v1/comments/{reply['id']}/report",
                                    json={"reason": "abuse", "note": "not nice"})  # fmt: skip
        assert reported.status_code == 202, reported.text
        article = await publish(kb)
        [bases] = [p for p in (await passage_listing(reader))["passages"] if p["key"] == "md:bases"]
        await post_comment(reader, "On the bases.", thread=PASSAGE_PAGE, passage_id=bases["id"])
    await import_sample(kb, "disqus", "disqus.xml")
    await tokens.create(kb, "site-developer")
    editor = audit.Actor(await make_account(kb), "Ed", "admin")
    await moderation.act(kb, editor, [rude["id"]], "reject")
    await bans.ban(kb, editor, bans.BanRequest(kinds=("email",), reason="rude", days=30,
                                               comment_id=rude["id"]))  # fmt: skip
    campaign = await make_campaign(kb)
    gift = await give(kb, campaign, 5000, donor_name="Jo Doe", donor_email="jo@example.org",
                      public_name="Jo", message="Keep going")  # fmt: skip
    await give(kb, campaign, 2000, kind="refund", reverses_id=gift)
    assert article.body_html


COVERED = (
    "threads", "comments", "votes", "articles", "subscribers", "subscriptions",
    "import_records", "passages", "accounts", "bans", "reports", "audit_log", "campaigns",
    "donors", "ledger_entries", "campaign_totals",
)  # fmt: skip


async def export_bytes(kb: Kibitz, gzipped: bool = False) -> bytes:
    buf = io.BytesIO()
    await archive.export(kb, buf, gzipped=gzipped)
    return buf.getvalue()


async def restored(archive_bytes: bytes, url: str) -> Kibitz:
    kb = Kibitz.create(
        Settings(database_url=url, secret_key=SECRET, public_url=ORIGIN, **NO_MODERATION)
    )
    await restore(kb, io.BytesIO(archive_bytes))
    return kb


@pytest.mark.parametrize(
    ("source", "target"),
    [(e, e) for e in ENGINES]
    + ([("sqlite", "postgresql"), ("postgresql", "sqlite")] if len(ENGINES) > 1 else []),
)
async def test_export_restore_export_gives_the_same_archive(
    empty_url: Any, source: str, target: str
) -> None:
    first_url = empty_url(source)
    second_url = empty_url(target) if (source, target) != ("postgresql", "postgresql") else None
    site = await kibitz_on(first_url)
    try:
        await a_site(site)
        original = await export_bytes(site, gzipped=True)
        page_before = await read_page(site)
    finally:
        await site.close()
    if second_url is None:  # PostgreSQL to PostgreSQL: empty the database, then restore
        second_url = first_url
        await drop_everything(first_url)
    copy = await restored(gzip.decompress(original), second_url)
    try:
        assert await export_bytes(copy, gzipped=True) == original
        assert await read_page(copy) == page_before
        # the restored site goes on: new ids follow the restored ones (PostgreSQL sequences)
        top = (await rows(copy, comments))[-1]
        transport = httpx.ASGITransport(app=create_app(kb=copy), client=("198.51.100.2", 1))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as reader:
            posted = await post_comment(reader, "After the move")
        assert posted["id"] > top.id
    finally:
        await copy.close()


async def read_page(kb: Kibitz) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=create_app(kb=kb), client=("198.51.100.3", 1))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as reader:
        return await read_thread(reader, PAGE, sort="oldest")


async def drop_everything(url: str) -> None:
    db = Kibitz.create(Settings(database_url=url)).db
    await migrate.downgrade(db, "base")
    await db.dispose()


async def test_the_archive_leaves_out_credentials_and_work_queues(empty_url: Any) -> None:
    kb = await kibitz_on(empty_url("sqlite"))
    try:
        await a_site(kb)
        assert await rows(kb, api_tokens) and await rows(kb, outbox)
        hashes = [r.edit_token_hash for r in await rows(kb) if r.edit_token_hash]
        text = (await export_bytes(kb)).decode()
    finally:
        await kb.close()
    lines = [json.loads(line) for line in text.splitlines()]
    header = lines[0]
    assert header["format"] == "kibitz-backup" and header["version"] == 1
    assert set(header["excluded"]) == {
        "api_tokens",
        "outbox",
        "events",
        "admin_sessions",
        "invites",
        "import_jobs",
    }
    assert "comments.edit_token_hash" in header["omitted"]
    assert "api_tokens" not in header["tables"] and "outbox" not in header["tables"]
    assert hashes and not any(h in text for h in hashes)
    assert "site-developer" not in text
    settings = lines[1]["settings"]
    assert "secret_key" not in settings and "database_url" not in settings
    assert SECRET not in text
    # what a site is made of is all there: its readers' addresses too (keep archives safe)
    assert "reader@example.org" in text and "First! With **Markdown**" in text
    assert lines[-1] == {"end": True, "rows": len(lines) - 3 - len(header["tables"])}


async def test_restore_refuses_a_database_that_has_data(empty_url: Any) -> None:
    kb = await kibitz_on(empty_url("sqlite"))
    try:
        await a_site(kb)
        data = await export_bytes(kb)
        with pytest.raises(RestoreFailed, match="not empty"):
            await restore(kb, io.BytesIO(data))
    finally:
        await kb.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_cut_off_or_damaged_archive_restores_nothing(empty_url: Any, engine: str) -> None:
    kb = await kibitz_on(empty_url("sqlite"))
    try:
        await a_site(kb)
        data = await export_bytes(kb)
    finally:
        await kb.close()
    target = Kibitz.create(Settings(database_url=empty_url(engine)))
    try:
        lines = data.splitlines(keepends=True)
        cut = b"".join(lines[: len(lines) - 3])
        with pytest.raises(RestoreFailed, match="cut off"):
            await restore(target, io.BytesIO(cut))
        damaged = data.replace(b'"A reply"', b'"A reply', 1)
        with pytest.raises(RestoreFailed, match="not JSON"):
            await restore(target, io.BytesIO(damaged))
        with pytest.raises(RestoreFailed, match="not a kibitz archive"):
            await restore(target, io.BytesIO(b'{"format": "something else"}\n'))
        assert await rows(target, comments) == []
    finally:
        await target.close()


async def test_a_dry_run_reads_everything_and_changes_nothing(empty_url: Any) -> None:
    kb = await kibitz_on(empty_url("sqlite"))
    try:
        await a_site(kb)
        data = await export_bytes(kb)
    finally:
        await kb.close()
    target = Kibitz.create(
        Settings(database_url=empty_url("sqlite"), **{**NO_MODERATION, "moderation": "all"})
    )
    try:
        report = await restore(target, io.BytesIO(data), dry_run=True)
        assert report.rows > 13
        # what the round trip above covers: a_site leaves rows in every one of these
        empty = [t for t in COVERED if not report.tables.get(t)]
        assert empty == []
        assert report.tables["ledger_entries"] == 2  # a donation and its refund
        assert report.tables["comments"] == 13
        assert report.settings_differences == ["moderation: archive 'none', here 'all'"]
        assert await migrate.current_revision(target.db) is None
    finally:
        await target.close()


def test_archives_are_only_readable_by_their_owner(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KIBITZ_LOG_LEVEL": "warning",
        "KIBITZ_BACKUP_DIR": str(tmp_path / "backups"),
        "KIBITZ_BACKUP_KEEP": "2",
    }

    def kibitz(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KIBITZ, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    assert kibitz("migrate").returncode == 0
    imported = kibitz("import", "disqus", str(Path(__file__).parent / "data/disqus.xml"))
    assert imported.returncode == 0, imported.stderr
    assert "8 imported" in imported.stdout
    out = tmp_path / "site.jsonl.gz"
    exported = kibitz("export", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    backed = kibitz("backup")
    assert backed.returncode == 0, backed.stderr
    [made] = list((tmp_path / "backups").glob("kibitz-backup-*.jsonl.gz"))
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    env["KIBITZ_DATABASE_URL"] = f"sqlite:///{tmp_path}/restored.db"
    dry = kibitz("import", "kibitz", str(out), "--dry-run")
    assert dry.returncode == 0 and "would restore" in dry.stdout
    done = kibitz("import", "kibitz", str(out))
    assert done.returncode == 0, done.stderr
    assert "comments: 8" in done.stdout
    again = kibitz("import", "kibitz", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr


async def test_scheduled_backups_when_due_keeping_the_newest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    kb = await kibitz_on(
        url, backup_dir=str(tmp_path / "b"), backup_keep=3, backup_interval_seconds=3600
    )
    try:
        start = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
        made = []
        for hours in (0, 0.5, 1, 2, 3, 3.9, 4):
            path = await schedule.backup_if_due(kb, start + timedelta(hours=hours))
            made.append(path is not None)
        assert made == [True, False, True, True, True, False, True]
        names = sorted(p.name for p in (tmp_path / "b").iterdir() if p.suffix == ".gz")
        assert names == [
            "kibitz-backup-20260101T050000Z.jsonl.gz",
            "kibitz-backup-20260101T060000Z.jsonl.gz",
            "kibitz-backup-20260101T070000Z.jsonl.gz",
        ]
        # another process holding the lock: this one writes nothing
        with schedule._locked(tmp_path / "b") as mine:
            assert mine
            assert await schedule.backup_if_due(kb, start + timedelta(hours=9)) is None
    finally:
        await kb.close()


async def test_the_server_writes_scheduled_backups(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'k.db'}",
        secret_key=SECRET,
        backup_enabled=True,
        backup_dir=str(tmp_path / "b"),
    )
    kb = Kibitz.create(settings)
    await migrate.upgrade(kb.db)
    app = create_app(kb=kb)
    async with app.lifespan():  # type: ignore[attr-defined]
        for _ in range(100):
            if list((tmp_path / "b").glob("kibitz-backup-*.jsonl.gz")):
                break
            import asyncio

            await asyncio.sleep(0.1)
    [made] = list((tmp_path / "b").glob("kibitz-backup-*.jsonl.gz"))
    assert json.loads(gzip.decompress(made.read_bytes()).splitlines()[0])["schema"]


async def test_export_needs_a_migrated_database(tmp_path: Path) -> None:
    kb = Kibitz.create(Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}"))
    try:
        with pytest.raises(archive.ExportFailed, match="kibitz migrate"):
            await export_bytes(kb)
    finally:
        await kb.close()


def test_restored_rows_keep_their_types() -> None:
    from kibitz.backup.restore import _decode

    when = "2021-06-01T09:00:00.250000Z"
    assert _decode("datetime", when, True) == "2021-06-01 09:00:00.250000"
    assert _decode("datetime", when, False) == datetime(2021, 6, 1, 9, 0, 0, 250000, UTC)
    assert _decode("boolean", True, True) == 1 and _decode("boolean", True, False) is True
    assert archive.encode("datetime", datetime(2021, 6, 1, 9, tzinfo=UTC)) == (
        "2021-06-01T09:00:00.000000Z"
    )
    assert archive.encode("float", 0.1) == 0.1
    assert sa is not None


async def as_of(lines: list[str], revision: str, scratch_url: str) -> bytes:
    """The archive as a site at an older ``revision`` would have written it: the tables and
    columns that revision did not have yet left out (learnt from a database migrated to it)."""
    scratch = Database(scratch_url)
    try:
        await migrate.upgrade(scratch, revision)

        def shape(conn: Any) -> dict[str, set[str]]:
            found = sa.inspect(conn)
            return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}

        existing = await scratch.run(shape)
    finally:
        await scratch.dispose()
    header = json.loads(lines[0])
    header["schema"] = revision
    header["tables"] = [t for t in header["tables"] if t in existing]
    out: list[str] = [json.dumps(header), lines[1]]
    keep: list[int] | None = None
    rows = 0
    for line in lines[2:-1]:
        item = json.loads(line)
        if isinstance(item, dict) and "table" in item:
            if item["table"] not in existing:
                keep = None
                continue
            columns = existing[item["table"]]
            keep = [i for i, (name, _) in enumerate(item["columns"]) if name in columns]
            item["columns"] = [item["columns"][i] for i in keep]
            out.append(json.dumps(item))
        elif keep is not None:
            out.append(json.dumps([item[i] for i in keep]))
            rows += 1
    out.append(json.dumps({"end": True, "rows": rows}))
    return ("\n".join(out) + "\n").encode()


async def test_an_archive_from_an_older_schema_is_restored_then_upgraded(empty_url: Any) -> None:
    """An archive made before import records existed (the revision before them) restores into
    a database that was already migrated to today's schema: down to it, rows in, up again."""
    kb = await kibitz_on(empty_url("sqlite"))
    try:
        await a_site(kb)
        lines = (await export_bytes(kb)).decode().splitlines()
    finally:
        await kb.close()
    before_imports = "0006"  # import records came with revision 0007
    old = await as_of(lines, before_imports, empty_url("sqlite"))

    target = await kibitz_on(empty_url("sqlite"))  # migrated to head, and empty
    try:
        report = await restore(target, io.BytesIO(old))
        assert report.schema == before_imports and "import_records" not in report.tables
        assert await migrate.current_revision(target.db) == migrate.head_revision()
        page = await read_page(target)
        assert page["thread"]["comment_count"] == 5
        # the upgraded schema works: importing records its rows (this archive predates import
        # records, so the Disqus history comes in again; a current archive carries them)
        again = await import_sample(target, "disqus", "disqus.xml")
        assert again.comments_imported == 8 and again.threads_updated == 2
    finally:
        await target.close()
