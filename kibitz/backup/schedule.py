"""Scheduled backups: an archive every ``backup_interval_seconds`` into ``backup_dir``,
keeping the newest ``backup_keep``.

They run inside the process that runs the outbox worker (``kibitz serve`` by default, or
``kibitz worker``), so a site that is up is backed up without cron or another service. Whether
a backup is due is read from the archives in the folder, not from memory: a restart neither
skips a backup nor makes an extra one, and a lock file lets only one of several processes
write. ``kibitz backup`` does the same once, for those who prefer cron.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kibitz.backup import archive
from kibitz.context import Kibitz
from kibitz.settings import Settings

log = logging.getLogger("kibitz.backup")
NAME = re.compile(r"^kibitz-backup-(\d{8}T\d{6}Z)\.jsonl\.gz$")


def archives(folder: Path) -> list[tuple[datetime, Path]]:
    """The archives in the folder, oldest first."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            m = NAME.match(path.name)
            if m:
                when = datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                found.append((when, path))
    return sorted(found)


def next_due(settings: Settings, now: datetime) -> datetime:
    made = archives(Path(settings.backup_dir))
    if not made:
        return now
    return made[-1][0] + timedelta(seconds=settings.backup_interval_seconds)


def prune(folder: Path, keep: int) -> list[Path]:
    made = archives(folder)
    gone = [path for _, path in made[: max(len(made) - keep, 0)]]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".kibitz-backup.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


async def backup_now(kb: Kibitz, now: datetime | None = None) -> Path:
    """Write one archive into the backup folder and prune old ones."""
    now = now or datetime.now(UTC)
    folder = Path(kb.settings.backup_dir)
    path = folder / archive.default_name(now)
    await archive.export_to_path(kb, path)
    prune(folder, kb.settings.backup_keep)
    return path


async def backup_if_due(kb: Kibitz, now: datetime | None = None) -> Path | None:
    now = now or datetime.now(UTC)
    folder = Path(kb.settings.backup_dir)
    with _locked(folder) as mine:
        if not mine or next_due(kb.settings, now) > now:
            return None
        return await backup_now(kb, now)


def _in_own_loop(settings: Settings) -> Path | None:
    async def go() -> Path | None:
        kb = Kibitz.create(settings)
        try:
            return await backup_if_due(kb)
        finally:
            await kb.close()

    return asyncio.run(go())


async def run_forever(settings: Settings, stop: asyncio.Event) -> None:
    """Write archives when they are due until ``stop`` is set. Each runs in a thread with its
    own connections, so a long export never holds up the requests this process serves."""
    log.info(
        "scheduled backups into %s every %ss", settings.backup_dir, settings.backup_interval_seconds
    )
    while not stop.is_set():
        try:
            path = await asyncio.to_thread(_in_own_loop, settings)
            if path is not None:
                log.info("wrote backup %s", path)
        except Exception:  # keep the schedule: the next round tries again
            log.exception("scheduled backup failed")
        wait = (next_due(settings, datetime.now(UTC)) - datetime.now(UTC)).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(max(wait, 60.0), 3600.0))
