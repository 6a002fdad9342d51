"""Imports started from the dashboard: run in the background of the process that took the
upload, with their progress and their report in the database (``import_jobs``).

Why in the background rather than in the request: a large export takes about a minute, and a
request held open that long meets the reverse proxy's timeout (nginx's default is 60
seconds): the publisher would see a gateway error while the import goes on unseen. A page
that polls the job's progress shows how far it got, survives a reload, and answers from any
process (the row is in the database, not in this process's memory).

The uploaded file is copied to a folder of this machine's temporary directory, readable by
its owner only. After a dry run it waits there (``KEEP_FILE``) so that "Import it for real"
needs no second upload; a real import, a failure or the next upload after that time removes
it. A job whose progress stops for ``STALE_AFTER`` was interrupted (the server stopped): it
is shown as such, and the import can be run again (it is idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import import_jobs
from kibitz.porting.importer import FORMATS, ImportOptions, ImportReport, import_file
from kibitz.porting.mapping import KeyMapping
from kibitz.porting.records import ImportFailed
from kibitz.services import audit
from kibitz.services import threads as thread_service
from kibitz.services.errors import Conflict, Invalid, NotFound

log = logging.getLogger("kibitz.import")

HEARTBEAT = 1.0  # seconds between writes of a running job's progress
STALE_AFTER = timedelta(seconds=60)
KEEP_FILE = timedelta(hours=1)
_tasks: set[asyncio.Task[None]] = set()  # running imports of this process (kept referenced)


def upload_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kibitz-imports"


@dataclass(frozen=True)
class Job:
    id: int
    actor: str
    format: str
    source: str
    options: dict[str, Any]
    dry_run: bool
    file_name: str
    file_size: int
    file_kept: bool  # the uploaded file still waits here (for the real import)
    state: str  # running | done | failed
    stage: str | None
    done: int
    total: int | None
    report: ImportReport | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    interrupted: bool

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)

    @property
    def finished(self) -> bool:
        return self.state != "running" or self.interrupted

    def as_json(self) -> dict[str, Any]:
        """What the polling page needs."""
        return {
            "id": self.id, "state": "interrupted" if self.interrupted else self.state,
            "stage": self.stage, "done": self.done, "total": self.total,
            "percent": self.percent, "finished": self.finished, "error": self.error,
        }  # fmt: skip


def options_json(options: ImportOptions) -> str:
    m = options.mapping
    return json.dumps({
        "format": options.format, "source": options.source, "pingbacks": options.pingbacks,
        "key_from": m.key_from, "rewrites": [list(r) for r in m.rewrites],
        "exact": dict(m.exact),
    }, ensure_ascii=False)  # fmt: skip


def options_of(data: dict[str, Any], dry_run: bool) -> ImportOptions:
    mapping = KeyMapping(
        key_from=data.get("key_from", "path"),
        rewrites=tuple((str(a), str(b)) for a, b in data.get("rewrites", [])),
        exact=dict(data.get("exact", {})),
    )
    return ImportOptions(
        format=data["format"], source=data.get("source"), mapping=mapping,
        pingbacks=data.get("pingbacks", "skip"), dry_run=dry_run,
    )  # fmt: skip


def _job(row: Any, now: datetime) -> Job:
    report = None
    if row.report:
        report = msgspec.json.decode(row.report, type=ImportReport)
    path = Path(row.file_path) if row.file_path else None
    return Job(
        id=row.id, actor=row.actor, format=row.format, source=row.source,
        options=json.loads(row.options), dry_run=bool(row.dry_run), file_name=row.file_name,
        file_size=row.file_size, file_kept=path is not None and path.is_file(),
        state=row.state, stage=row.stage, done=row.done, total=row.total, report=report,
        error=row.error, created_at=row.created_at, updated_at=row.updated_at,
        finished_at=row.finished_at,
        interrupted=row.state == "running" and now - row.updated_at > STALE_AFTER,
    )  # fmt: skip


async def get(kb: Kibitz, job_id: int) -> Job:
    query = sa.select(import_jobs).where(import_jobs.c.id == job_id)
    row = await kb.db.read(lambda conn: conn.execute(query).first())
    if row is None:
        raise NotFound("no_such_import", "There is no such import.")
    return _job(row, thread_service.now())


async def recent(kb: Kibitz, limit: int = 20) -> list[Job]:
    query = sa.select(import_jobs).order_by(import_jobs.c.id.desc()).limit(limit)
    rows = await kb.db.read(lambda conn: list(conn.execute(query)))
    now = thread_service.now()
    return [_job(r, now) for r in rows]


def _running(conn: Connection, now: datetime) -> Any:
    return conn.execute(
        sa.select(import_jobs.c.id, import_jobs.c.actor).where(
            import_jobs.c.state == "running", import_jobs.c.updated_at > now - STALE_AFTER
        )
    ).first()


def _forget_old_files(now: float) -> None:
    """Uploads kept for a real import that never came."""
    folder = upload_dir()
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            if now - path.stat().st_mtime > KEEP_FILE.total_seconds():
                path.unlink()
        except OSError:
            continue


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _drop(path: Path) -> None:
    path.unlink(missing_ok=True)


def _keep(file: IO[bytes]) -> tuple[Path, int]:
    """Copy the upload to a file of our own (owner only: it holds readers' addresses)."""
    _forget_old_files(time.time())
    folder = upload_dir()
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"upload-{secrets.token_hex(12)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            file.seek(0)
            shutil.copyfileobj(file, out, 1 << 20)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, path.stat().st_size


async def start(
    kb: Kibitz, actor: audit.Actor, file: IO[bytes], file_name: str, options: ImportOptions
) -> int:
    """Keep the upload and start importing it in the background; returns the job's id."""
    if options.format not in FORMATS:
        raise Invalid("invalid_format", f"The format is one of {', '.join(FORMATS)}.", "format")
    path, size = await asyncio.to_thread(_keep, file)
    try:
        return await _begin(kb, actor, path, size, file_name, options)
    except BaseException:
        _drop(path)
        raise


async def rerun(kb: Kibitz, actor: audit.Actor, job_id: int) -> int:
    """Import for real the file a dry run read (no second upload)."""
    job = await get(kb, job_id)
    query = sa.select(import_jobs.c.file_path).where(import_jobs.c.id == job_id)
    path_text = await kb.db.read(lambda conn: conn.execute(query).scalar())
    if not job.dry_run or job.state != "done":
        raise Conflict("not_a_dry_run", "Only a finished dry run can be imported for real.")
    if not path_text or not _is_file(path_text):
        raise Conflict(
            "upload_gone",
            "The uploaded file is no longer here (it is kept for an hour after a dry run, on "
            "the server that took it): upload it again.",
        )
    options = options_of(job.options, dry_run=False)
    return await _begin(kb, actor, Path(path_text), job.file_size, job.file_name, options)


async def _begin(
    kb: Kibitz, actor: audit.Actor, path: Path, size: int, file_name: str,
    options: ImportOptions,
) -> int:  # fmt: skip
    now = thread_service.now()

    def tx(conn: Connection) -> int:
        busy = _running(conn, now)
        if busy is not None:
            raise Conflict(
                "import_running",
                f"An import is running (#{busy.id}, started by {busy.actor}): let it finish.",
            )
        made = conn.execute(
            sa.insert(import_jobs).values(
                account_id=actor.account_id, actor=actor.name[:100], format=options.format,
                source=options.label, options=options_json(options), dry_run=options.dry_run,
                file_name=file_name[:255], file_size=size, file_path=str(path),
                state="running", done=0, created_at=now, updated_at=now,
            ).returning(import_jobs.c.id)
        )  # fmt: skip
        return int(made.scalar_one())

    job_id = await kb.db.write(tx)
    task = asyncio.create_task(_run(kb, actor, job_id, path, options))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return job_id


class _Progress:
    """The import's progress callback (called from its reading thread too)."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.done = 0
        self.total: int | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.stage, self.done, self.total = stage, done, total


async def _update(kb: Kibitz, job_id: int, **values: Any) -> None:
    values["updated_at"] = thread_service.now()
    query = sa.update(import_jobs).where(import_jobs.c.id == job_id).values(**values)
    await kb.db.write(lambda conn: conn.execute(query))


async def _heartbeat(kb: Kibitz, job_id: int, progress: _Progress) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT)
        try:
            await _update(kb, job_id, stage=progress.stage, done=progress.done,
                          total=progress.total)  # fmt: skip
        except Exception:  # a busy database must not stop the import itself
            log.warning("could not write the progress of import %s", job_id, exc_info=True)


async def _run(
    kb: Kibitz, actor: audit.Actor, job_id: int, path: Path, options: ImportOptions
) -> None:
    progress = _Progress()
    beat = asyncio.create_task(_heartbeat(kb, job_id, progress))
    keep = False
    try:
        with path.open("rb") as file:
            report = await import_file(kb, file, options, progress)
    except ImportFailed as exc:
        await _finish(kb, job_id, "failed", error=str(exc))
    except Exception as exc:
        log.exception("import %s failed", job_id)
        await _finish(kb, job_id, "failed",
                      error=f"The import stopped on an error ({type(exc).__name__}); threads "
                      "written before it stay imported, and running it again goes on from "
                      "there.")  # fmt: skip
    else:
        keep = options.dry_run
        await _finish(kb, job_id, "done", report=msgspec.json.encode(report).decode(),
                      stage=progress.stage, done=progress.done, total=progress.total)  # fmt: skip
        if not options.dry_run:
            await kb.db.write(lambda conn: audit.record(
                conn, actor, "import_comments", f"import:{job_id}", after={
                    "format": report.format, "source": report.source,
                    "threads_created": report.threads_created,
                    "threads_updated": report.threads_updated,
                    "comments_imported": report.comments_imported,
                    "skipped": report.skipped_count,
                },
            ))  # fmt: skip
    finally:
        beat.cancel()
        if not keep:
            _drop(path)


async def _finish(kb: Kibitz, job_id: int, state: str, **values: Any) -> None:
    await _update(kb, job_id, state=state, finished_at=thread_service.now(), **values)


async def wait() -> None:
    """Until this process's imports have finished (for tests and an orderly shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
