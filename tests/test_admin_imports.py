"""Imports and backups in the dashboard, as an admin uses them over HTTP: an upload run dry,
then for real from the same file, with its options; a file that cannot be imported; one
import at a time; the guards, the CSRF check and the upload limit; the backup download. On
SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kibitz.app import create_app
from kibitz.context import Kibitz
from kibitz.db import migrate
from kibitz.db.tables import audit_log, comments, import_jobs, threads
from kibitz.porting import jobs
from kibitz.services import threads as thread_service
from kibitz.settings import Settings
from tests.conftest import NO_MODERATION, ORIGIN, SECRET
from tests.moderators import csrf, dashboard, log_in, make_account
from tests.porting_helpers import DATA, PAGE, rows

pytestmark = pytest.mark.usefixtures("cheap_hashing")


async def start(client: Any, sample: str | bytes, fmt: str = "disqus", **fields: str) -> Any:
    token = await csrf(client, "/admin/imports")
    content = sample if isinstance(sample, bytes) else (DATA / sample).read_bytes()
    name = "upload.bin" if isinstance(sample, bytes) else sample
    data = {"_csrf_token": token, "format": fmt, **fields}
    return await client.post("/admin/imports", data=data, files={"file": (name, content)})


async def finished(client: Any, location: str) -> Any:
    """Follow the job as the page does, until it has finished; then its page."""
    await jobs.wait()
    progress = await client.get(f"{location}/progress")
    assert progress.status_code == 200 and progress.json()["finished"] is True
    assert progress.headers["cache-control"] == "no-store"
    return await client.get(location)


async def test_a_dry_run_then_the_real_import_from_the_same_upload(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    page = await admin.get("/admin/imports")
    assert page.status_code == 200
    assert 'name="dry_run" checked' in page.text  # a dry run unless the admin says otherwise
    r = await start(admin, "disqus.xml", dry_run="on")
    assert r.status_code == 303 and r.headers["location"] == "/admin/imports/1"
    dry = await finished(admin, "/admin/imports/1")
    assert dry.status_code == 200
    assert "What it would do (nothing was written)" in dry.text
    assert "8 would be imported (6 approved, 1 deleted, 1 spam)" in dry.text
    assert "missing or bad createdAt" in dry.text  # the skipped items, with their reasons
    assert await rows(kb) == [] and await rows(kb, threads) == []
    assert "Import it for real" in dry.text
    real = await admin.post(
        "/admin/imports/1/run", data={"_csrf_token": await csrf(admin, "/admin/imports/1")}
    )
    assert real.status_code == 303 and real.headers["location"] == "/admin/imports/2"
    done = await finished(admin, "/admin/imports/2")
    assert "What was imported" in done.text and "8 imported" in done.text
    assert len(await rows(kb)) == 8
    job = await jobs.get(kb, 2)
    assert job.report is not None and job.report.comments_imported == 8
    assert not job.file_kept and not (await jobs.get(kb, 1)).file_kept  # the upload is gone
    again = await admin.post(
        "/admin/imports/1/run", data={"_csrf_token": await csrf(admin, "/admin/imports/1")}
    )
    notice = (await admin.get(again.headers["location"])).text
    assert "no longer here" in notice
    assert len(await rows(kb)) == 8
    logged = await kb.db.read(lambda c: list(c.execute(
        sa.select(audit_log).where(audit_log.c.action == "import_comments"))))  # fmt: skip
    assert len(logged) == 1 and json.loads(logged[0].after)["comments_imported"] == 8
    # the JSON twin of the job's page
    twin = await admin.get("/admin/imports/2", headers={"accept": "application/json"})
    assert twin.json()["state"] == "done" and twin.json()["report"]["comments_imported"] == 8
    assert twin.json()["stage"] == "write" and twin.json()["done"] == twin.json()["total"] == 3
    listing = (await admin.get("/admin/imports")).text
    assert "done: 8 comments" in listing and "dry run" in listing


async def test_the_options_of_the_form(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    mapping = "https://old.example.com/2020/01/closed/,/archive/closed\n"
    r = await start(
        admin, "wordpress.xml", "wordpress", source="old-blog", pingbacks="keep",
        rewrites="https://old.example.com/2021/ https://news.example.org/2021/",
        mapping=mapping,
    )  # fmt: skip
    done = await finished(admin, r.headers["location"])
    assert "What was imported" in done.text
    keys = {t.key for t in await rows(kb, threads)}
    assert keys == {"/2021/06/russia-strengthening-bases/", "/archive/closed"}
    urls = {t.url for t in await rows(kb, threads)}
    assert "https://news.example.org/2021/06/russia-strengthening-bases/" in urls
    assert "1 pingback" not in done.text  # kept, not skipped
    assert "5 approved" in done.text
    records = await kb.db.read(lambda c: c.execute(sa.text(
        "SELECT DISTINCT source FROM import_records")).scalars().all())  # fmt: skip
    assert records == ["old-blog"]
    bad = await start(admin, "wordpress.xml", "wordpress", rewrites="only-one-part")
    assert bad.status_code == 422 and "Address rewrites, line 1" in bad.text
    bad = await start(admin, "wordpress.xml", "wordpress", mapping="a,b,c")
    assert bad.status_code == 422 and "two columns" in bad.text


async def test_a_file_that_cannot_be_imported_says_why_and_writes_nothing(
    make_client: Any,
) -> None:
    admin = await dashboard(make_client)
    r = await start(admin, "disqus-truncated.xml")
    page = await finished(admin, r.headers["location"])
    assert page.status_code == 422 and "Nothing was imported" in page.text
    twin = await admin.get(r.headers["location"], headers={"accept": "application/json"})
    assert twin.status_code == 422
    assert twin.json()["error"]["code"] == "import_failed"
    assert "Nothing was imported" in twin.json()["error"]["message"]
    assert await rows(admin.kb) == []
    r = await start(admin, b"\x1f\x8b not really gzip", "remark42")
    page = await finished(admin, r.headers["location"])
    assert page.status_code == 422 and "cannot be read" in page.text
    r = await start(admin, "disqus.xml", "mystery")
    assert r.status_code == 422 and "Choose the system" in r.text


async def test_wrongly_typed_items_are_listed_and_warnings_shown(make_client: Any) -> None:
    """The job finishes (it used to stop "on an error (ValueError)") and the page says which
    item and field were skipped, and warns that an uncompressed Remark42 backup may be cut."""
    admin = await dashboard(make_client)
    good = {"id": "good", "locator": {"url": "https://old.example.com/p/"},
            "time": "2021-06-01T10:00:00Z", "orig": "Fine"}  # fmt: skip
    lines = [{"version": 1}, good, {**good, "id": "bad", "score": "many", "votes": {}}]
    r = await start(admin, "".join(json.dumps(x) + "\n" for x in lines).encode(), "remark42")
    page = await finished(admin, r.headers["location"])
    assert page.status_code == 200, page.text
    assert "score is &#39;many&#39;, not a number" in page.text
    assert "no end marker" in page.text and "Check:" in page.text


async def test_one_import_at_a_time(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    now = thread_service.now()
    values = {"actor": "Someone", "format": "disqus", "source": "disqus", "options": "{}",
              "dry_run": False, "file_name": "big.xml", "file_size": 1, "state": "running",
              "created_at": now, "updated_at": now}  # fmt: skip
    await kb.db.write(lambda c: c.execute(sa.insert(import_jobs).values(**values)))
    busy = await start(admin, "disqus.xml")
    assert busy.status_code == 409 and "An import is running (#1, started by Someone)" in busy.text
    # a job whose progress stopped a minute ago was interrupted: it no longer blocks
    stale = now - timedelta(minutes=2)
    await kb.db.write(lambda c: c.execute(sa.update(import_jobs).values(updated_at=stale)))
    assert "interrupted" in (await admin.get("/admin/imports/1")).text
    r = await start(admin, "disqus.xml")
    assert r.status_code == 303
    await finished(admin, r.headers["location"])


async def test_imports_are_for_admins_with_a_token_and_within_the_limit(
    make_client: Any,
) -> None:
    admin = await dashboard(make_client, upload_max_bytes=70_000)
    kb = admin.kb
    moderator = await make_client(kb=kb)
    await make_account(kb, email="mo@example.org", name="Mo", role="moderator")
    await log_in(moderator, "mo@example.org")
    assert "/admin/imports" not in (await moderator.get("/admin/comments")).text
    token = await csrf(moderator, "/admin/comments")
    sample = (DATA / "disqus.xml").read_bytes()
    for method, path in [("GET", "/admin/imports"), ("POST", "/admin/imports"),
                         ("POST", "/admin/export"), ("GET", "/admin/imports/1")]:  # fmt: skip
        files = (
            {"file": ("d.xml", sample)} if (method, path) == ("POST", "/admin/imports") else None
        )
        data = {"_csrf_token": token, "format": "disqus"} if method == "POST" else None
        r = await moderator.request(method, path, data=data, files=files)
        assert r.status_code == 403, (method, path)
    for data in ({"format": "disqus"}, {"format": "disqus", "_csrf_token": "forged"}):
        r = await admin.post("/admin/imports", data=data, files={"file": ("d.xml", sample)})
        assert r.status_code == 403
    too_big = sample + b" " * 80_000
    r = await start(admin, too_big)
    assert r.status_code == 413
    assert await kb.db.read(lambda c: c.execute(sa.select(import_jobs.c.id)).first()) is None
    assert await rows(kb) == []


@pytest.fixture
async def migrated(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Any:
    """A site whose schema was made by its migrations (what `kibitz export` insists on)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    settings = Settings(database_url=url, secret_key=SECRET, public_url=ORIGIN, **NO_MODERATION)
    kb = Kibitz.create(settings)
    await migrate.upgrade(kb.db)
    yield kb
    await kb.close()


async def test_the_backup_download(migrated: Kibitz, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:  # fmt: skip
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    transport = httpx.ASGITransport(app=create_app(kb=migrated), client=("203.0.113.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as admin:
        admin.kb = migrated  # type: ignore[attr-defined]
        await make_account(migrated, email="admin@example.org", name="Admin")
        await log_in(admin, "admin@example.org")
        await admin.post("/api/v1/comments", json={"thread": PAGE, "body": "Hello",
                                                    "author_name": "Ann",
                                                    "author_email": "ann@example.org"})  # fmt: skip
        r = await admin.post("/admin/export", data={"_csrf_token": await csrf(admin, "/admin")})
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="kibitz-backup-')
    lines = gzip.decompress(r.content).decode().splitlines()
    assert json.loads(lines[0])["format"] == "kibitz-backup"
    assert any("ann@example.org" in line for line in lines)  # everything: keep it safe
    assert not any(p.name.startswith("kibitz-export-") for p in tmp_path.iterdir())
    logged = await migrated.db.read(
        lambda c: c.execute(
            sa.select(audit_log.c.action).where(audit_log.c.action == "export_site")
        ).all()
    )
    assert len(logged) == 1
    assert len(await migrated.db.read(lambda c: c.execute(sa.select(comments)).all())) == 1
