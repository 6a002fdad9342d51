"""Importing another system's export: ``await import_file(kb, file, options)``.

The CLI (``kibitz import FORMAT FILE``) and the dashboard's upload form both call this with a
binary file object. Reading happens in a thread, into a temporary staging file; bodies are
rendered in worker processes (for large files); then each kibitz thread is written whole in
one transaction with all its new comments (small threads share one; if it fails each is
written again alone), so a failure leaves that thread as it was, never half imported. Every
imported thread and comment is recorded in
``import_records`` by its source id: importing the same file again changes nothing, and a newer
export of the same site adds only what is new.

Imports send no mail and no webhooks: they are history, not news.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comments, import_records, threads
from kibitz.porting import plan as planning
from kibitz.porting.mapping import KeyMapping
from kibitz.porting.records import (
    ImportFailed,
    Notice,
    Record,
    Skip,
    SourceComment,
    SourceThread,
)
from kibitz.porting.sources import commento, disqus, isso, remark42, wordpress
from kibitz.porting.staging import Staging
from kibitz.services import threads as thread_service

log = logging.getLogger("kibitz.import")

Format = Literal["disqus", "wordpress", "isso", "remark42", "commento"]
FORMATS: tuple[Format, ...] = ("disqus", "wordpress", "isso", "remark42", "commento")
MAX_LISTED = 500  # skipped items listed one by one in a report; the rest are counted
_CHUNK = 500
PARALLEL_FROM = 2000  # comments in a file from which rendering runs in worker processes
BATCH_COMMENTS = 1000  # small threads share a transaction up to this many comments

# (stage, done, total): stage "read" counts bytes of the file, "write" counts threads
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    format: Format
    # recorded with every imported row; give two sites of the same kind different labels
    source: str | None = None
    mapping: KeyMapping = field(default_factory=KeyMapping)
    pingbacks: wordpress.Pingbacks = "skip"
    dry_run: bool = False

    @property
    def label(self) -> str:
        return (self.source or self.format)[:64]


class SkippedItem(msgspec.Struct):
    kind: str
    id: str
    reason: str
    where: str = ""


class ImportReport(msgspec.Struct, kw_only=True):
    format: str
    source: str
    dry_run: bool
    threads_created: int = 0
    threads_updated: int = 0
    threads_unchanged: int = 0
    comments_imported: int = 0
    comments_already_imported: int = 0
    # imported comments by kibitz status
    statuses: dict[str, int] = msgspec.field(default_factory=dict)
    skipped_count: int = 0
    skipped: list[SkippedItem] = msgspec.field(default_factory=list)
    # things imported with a change, or source features kibitz does not represent: counts
    notices: dict[str, int] = msgspec.field(default_factory=dict)
    # threads whose transaction failed and was rolled back (they are also in skipped)
    failed_threads: int = 0
    # what the publisher should check before trusting the result (shown first)
    warnings: list[str] = msgspec.field(default_factory=list)

    def skip(self, item: Skip | SkippedItem) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED:
            self.skipped.append(SkippedItem(item.kind, item.id, item.reason, item.where))

    def notice(self, message: str, n: int = 1) -> None:
        self.notices[message] = self.notices.get(message, 0) + n


class _Counting:
    """A binary reader that reports how far into the file it is."""

    def __init__(self, raw: IO[bytes], progress: Progress | None, total: int | None) -> None:
        self.raw, self.progress, self.total, self.done = raw, progress, total, 0
        self._last = 0

    def _tell(self, n: int) -> None:
        self.done += n
        if self.progress and (self.done - self._last > 1 << 20 or n == 0):
            self._last = self.done
            self.progress("read", self.done, self.total)

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self._tell(len(data))
        return data

    def readline(self, n: int = -1) -> bytes:
        data = self.raw.readline(n)
        self._tell(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def _size(file: IO[bytes]) -> int | None:
    try:
        here = file.tell()
        end = file.seek(0, 2)
        file.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError):
        return None


def _opened(file: IO[bytes], progress: Progress | None) -> IO[bytes]:
    """The file's bytes, unzipped when it is gzip (Remark42 backups are)."""
    counting: Any = _Counting(file, progress, _size(file))
    head = file.read(2)
    file.seek(-len(head), 1)
    counting.done = 0
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=counting, mode="rb")  # type: ignore[return-value]
    return counting  # type: ignore[no-any-return]


class _Joined:
    """The first bytes of a stream, already read to tell what it is, then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        if self.head:  # a short read, as streams may give
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.rest.read(n)

    def write_to(self, out: IO[bytes]) -> None:
        out.write(self.head)
        shutil.copyfileobj(self.rest, out)


REMARK42_UNMARKED = (
    "This uncompressed Remark42 backup has no end marker: if it was cut off exactly at the end "
    "of a line, the comments after the cut are missing without any other sign. Compare the "
    "counts with the source, or import the gzipped backup, whose end gzip checks."
)


def _records(
    file: IO[bytes], options: ImportOptions, report: ImportReport, progress: Progress | None
) -> Iterator[Record]:
    stream = _opened(file, progress)
    try:
        if options.format == "isso":  # a database file or JSON, either of them gzipped
            head = stream.read(len(isso.SQLITE_MAGIC))
            joined: Any = _Joined(head, stream)
            if head == isso.SQLITE_MAGIC:
                yield from _isso_sqlite(None if _gzipped(stream) else file, joined)
            else:
                yield from isso.parse_json(joined)
        elif options.format == "disqus":
            yield from disqus.parse(stream)
        elif options.format == "wordpress":
            yield from wordpress.parse(stream, options.pingbacks)
        elif options.format == "remark42":
            if not _gzipped(stream):
                report.warnings.append(REMARK42_UNMARKED)
            yield from remark42.parse(stream)
        elif options.format == "commento":
            yield from commento.parse(stream)
        else:  # pragma: no cover (the CLI and the form offer only known formats)
            raise ImportFailed(f"Unknown format {options.format!r}.")
    except (OSError, EOFError) as exc:  # a damaged gzip stream
        raise ImportFailed(f"The file cannot be read: {exc}. Nothing was imported.") from None


def _gzipped(stream: Any) -> bool:
    return isinstance(stream, gzip.GzipFile)


def _isso_sqlite(original: IO[bytes] | None, joined: _Joined) -> Iterator[Record]:
    """Isso's database: read where it is when it is a file as given, else from a copy."""
    name = getattr(original, "name", None)
    if isinstance(name, str) and Path(name).is_file():
        yield from isso.parse_sqlite(Path(name))
        return
    with tempfile.TemporaryDirectory(prefix="kibitz-isso-") as tmp:
        path = Path(tmp) / "isso.db"
        with path.open("wb") as out:
            joined.write_to(out)
        yield from isso.parse_sqlite(path)


def stage(
    file: IO[bytes], options: ImportOptions, report: ImportReport, progress: Progress | None = None,
    large: Callable[[], None] | None = None,
) -> Staging:  # fmt: skip
    """Parse the whole file into a staging store (synchronous: run it in a thread). ``large``
    is called, from this thread, once the file has shown itself large (PARALLEL_FROM
    comments read)."""
    staging = Staging()
    kept = 0
    try:
        for record in _records(file, options, report, progress):
            if isinstance(record, SourceComment):
                wrong = staging.add_comment(record)
                if wrong:
                    report.skip(Skip(kind="comment", id=str(record.id), reason=wrong,
                                     where=str(record.where)))  # fmt: skip
                else:
                    kept += 1
                    if kept == PARALLEL_FROM and large is not None:
                        large()
            elif isinstance(record, SourceThread):
                wrong = staging.add_thread(record)
                if wrong:
                    report.skip(Skip(kind="thread", id=str(record.id), reason=wrong))
            elif isinstance(record, Skip):
                report.skip(record)
            elif isinstance(record, Notice):
                report.notice(record.message)
        staging.finish()
    except ImportFailed:
        staging.close()
        raise
    except Exception as exc:  # a parser's own mistake: a clear refusal, never a traceback
        staging.close()
        log.debug("reading the %s file failed", options.format, exc_info=True)
        raise ImportFailed(
            f"This file could not be read as a {options.format} export ({type(exc).__name__}: "
            f"{exc}). Nothing was imported."
        ) from None
    except BaseException:
        staging.close()
        raise
    for dup in staging.duplicates:
        report.skip(Skip(kind="comment", id=dup.id, reason="comment id repeated", where=dup.where))
    return staging


@dataclass
class _Group:
    key: str
    url: str
    title: str
    closed: bool
    created_at: datetime | None
    source_ids: list[str]


def _groups(staging: Staging, options: ImportOptions, report: ImportReport) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for t in staging.threads():
        if t.deleted:
            n = staging.count_of([t.id])
            report.skip(
                Skip(
                    kind="thread",
                    id=t.id,
                    where=t.url,
                    reason=f"deleted in the source, with its {n} comments",
                )
            )
            continue
        target = options.mapping.target(t)
        if target is None:
            n = staging.count_of([t.id])
            report.skip(
                Skip(
                    kind="thread",
                    id=t.id,
                    where=t.url or t.identifier,
                    reason=f"no usable page address or key ({n} comments)",
                )
            )
            continue
        key, url = target
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(key, url, t.title, t.closed, t.created_at, [t.id])
        else:  # the same page under two addresses (http and https, say): one discussion
            group.source_ids.append(t.id)
            group.url = group.url or url
            group.title = group.title or t.title
            group.closed = group.closed or t.closed
    for orphan in staging.orphans():
        report.skip(
            Skip(
                kind="comment",
                id=orphan.id,
                where=orphan.where,
                reason=f"its thread {orphan.thread!r} is not in the file",
            )
        )
    return list(groups.values())


# -- the database side


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _known(
    conn: Connection, source: str, key: str, thread_ids: list[str], comment_ids: list[str]
) -> tuple[Any, set[str], dict[str, planning.Existing]]:
    """The kibitz thread for the key, and what of this group was imported before."""
    r = import_records
    thread = thread_service.get_row(conn, key)
    known_threads = set(
        conn.execute(
            sa.select(r.c.source_id).where(
                r.c.source == source, r.c.kind == "thread", r.c.source_id.in_(thread_ids)
            )
        ).scalars()
    )
    existing: dict[str, planning.Existing] = {}
    for chunk in _chunks(comment_ids):
        rows = conn.execute(
            sa.select(
                r.c.source_id,
                comments.c.id,
                comments.c.thread_id,
                comments.c.root_id,
                comments.c.depth,
            )
            .join(comments, comments.c.id == r.c.comment_id)
            .where(r.c.source == source, r.c.kind == "comment", r.c.source_id.in_(chunk))
        )
        for row in rows:
            existing[row.source_id] = planning.Existing(
                row.id, row.thread_id, row.root_id, row.depth
            )
    return thread, known_threads, existing


def recount(conn: Connection, thread_id: int) -> None:
    """Reply counts, the comment count and the last comment's time of one thread, from its
    rows (after an import; the live paths keep them in step one write at a time)."""
    c = comments
    rows = conn.execute(
        sa.select(c.c.id, c.c.parent_id, c.c.status, c.c.reply_count, c.c.depth, c.c.created_at)
        .where(c.c.thread_id == thread_id)
        .order_by(c.c.depth.desc())
    ).all()
    replies: Counter[int] = Counter()
    changes = []
    approved = 0
    last: datetime | None = None
    for row in rows:  # deepest first: every reply is counted before its parent is looked at
        count = replies[row.id]
        visible = row.status == "approved" or (row.status == "deleted" and count > 0)
        if visible and row.parent_id is not None:
            replies[row.parent_id] += 1
        if count != row.reply_count:
            changes.append({"cid": row.id, "n": count})
        if row.status == "approved":
            approved += 1
            last = row.created_at if last is None else max(last, row.created_at)
    if changes:
        conn.execute(
            sa.update(c).where(c.c.id == sa.bindparam("cid")).values(reply_count=sa.bindparam("n")),
            changes,
        )
    thread_service.bump(conn, thread_id, comment_count=approved, last_comment_at=last)


def _reserve_ids(conn: Connection, n: int) -> list[int]:
    """Ids for n new comments, taken up front so that a thread goes in with one insert."""
    if n == 0:
        return []
    if conn.dialect.name == "postgresql":
        sql = "SELECT nextval(pg_get_serial_sequence('comments', 'id')) FROM generate_series(1, :n)"
        return sorted(conn.execute(sa.text(sql), {"n": n}).scalars())
    # SQLite: the write transaction holds the database's only write lock
    top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(comments.c.id), 0))).scalar_one()
    return list(range(top + 1, top + n + 1))


class _DryRun(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__("dry run")
        self.result = result


def _write(
    conn: Connection, group: _Group, source: str, the_plan: planning.Plan, now: datetime,
    *, only_read: bool = False,
) -> tuple[bool, int]:  # fmt: skip
    """One thread's import, in the caller's transaction. Returns (thread created, comments).

    ``only_read``: a dry run that does everything but the writes themselves, so that it needs
    no write lock (SQLite has one for the whole database). What it leaves out can fail only
    on a constraint of the database, and every row is made to keep them (a tree's shape,
    known statuses, counts that are not negative, keys not yet taken)."""
    thread = thread_service.get_row(conn, group.key)
    created = thread is None
    if thread is None:
        first = min((r.values["created_at"] for g in the_plan.generations for r in g), default=None)
        new_thread = sa.insert(threads).values(
            key=group.key,
            title=thread_service.check_title(group.title),
            url=group.url,
            closed=group.closed,
            created_at=group.created_at or first or now,
        )
        if only_read:
            thread_id = 0  # never written: the rows below are made and dropped
        else:
            conn.execute(new_thread)
            thread_id = thread_service.get_row(conn, group.key).id
    else:
        thread_id = thread.id
        fill = {}
        if not thread.title and group.title:
            fill["title"] = thread_service.check_title(group.title)
        if not thread.url and group.url:
            fill["url"] = group.url
        if fill and not only_read:
            conn.execute(sa.update(threads).where(threads.c.id == thread.id).values(**fill))
    r = import_records
    known = set(
        conn.execute(
            sa.select(r.c.source_id).where(
                r.c.source == source, r.c.kind == "thread", r.c.source_id.in_(group.source_ids)
            )
        ).scalars()
    )
    records: list[dict[str, Any]] = [
        {
            "source": source,
            "kind": "thread",
            "source_id": sid,
            "thread_id": thread_id,
            "comment_id": None,
            "meta": None,
            "imported_at": now,
        }
        for sid in group.source_ids
        if sid not in known
    ]
    ids = iter(range(1, the_plan.count + 1) if only_read else _reserve_ids(conn, the_plan.count))
    placed: dict[str, tuple[int, int | None, int]] = {}  # source id -> (id, root, depth)
    rows: list[dict[str, Any]] = []
    for generation in the_plan.generations:  # parents before replies, so ids grow downwards
        for item in generation:
            tree: dict[str, int | None]
            if item.parent_new is not None:
                pid, proot, pdepth = placed[item.parent_new]
                tree = {"parent_id": pid, "root_id": proot or pid, "depth": pdepth + 1}
            elif item.parent_existing is not None:
                p = item.parent_existing
                tree = {"parent_id": p.id, "root_id": p.root_id or p.id, "depth": p.depth + 1}
            else:
                tree = {"parent_id": None, "root_id": None, "depth": 0}
            new_id = next(ids)
            rows.append({"id": new_id, "thread_id": thread_id, **tree, **item.values})
            placed[item.source_id] = (new_id, tree["root_id"], tree["depth"] or 0)
            records.append(
                {
                    "source": source,
                    "kind": "comment",
                    "source_id": item.source_id[:255],
                    "thread_id": thread_id,
                    "comment_id": new_id,
                    "meta": json.dumps(item.meta, sort_keys=True) if item.meta else None,
                    "imported_at": now,
                }
            )
    if only_read:
        return created, len(placed)
    if rows:  # one statement for the whole thread, rows in id order
        conn.execute(sa.insert(comments), rows)
    if records:
        conn.execute(sa.insert(import_records), records)
    if created:  # every comment is from this import: the plan's counts are the thread's
        approved = [r.values["created_at"] for g in the_plan.generations for r in g
                    if r.values["status"] == "approved"]  # fmt: skip
        thread_service.bump(conn, thread_id, comment_count=len(approved),
                            last_comment_at=max(approved, default=None))  # fmt: skip
    else:
        recount(conn, thread_id)
    return created, len(placed)


@dataclass
class _Prepared:
    group: _Group
    thread: Any
    known_threads: set[str]
    plan: planning.Plan


@dataclass
class _Known:
    """What the database held before the import, when that can be known up front: for a
    source never imported before, which keys have threads (so most threads need no read)."""

    fresh: bool
    keys: set[str]


def _known_up_front(conn: Connection, source: str, keys: list[str]) -> _Known:
    r = import_records
    fresh = conn.execute(sa.select(r.c.id).where(r.c.source == source).limit(1)).first() is None
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update(
            conn.execute(sa.select(threads.c.key).where(threads.c.key.in_(chunk))).scalars()
        )
    return _Known(fresh, found)


async def _prepare(
    kb: Kibitz, staging: Staging, group: _Group, source: str, now: datetime,
    pool: Executor | None, before: _Known,
) -> _Prepared:  # fmt: skip
    ids, staged = staging.staged_of(group.source_ids)
    thread: Any = None
    known_threads: set[str] = set()
    existing: dict[str, planning.Existing] = {}
    if not before.fresh or group.key in before.keys:
        thread, known_threads, existing = await kb.db.read(
            lambda conn: _known(conn, source, group.key, group.source_ids, ids)
        )
    # rendering is the slow part: in other processes for a large import, never in the
    # write transaction
    loop = asyncio.get_running_loop()
    args = (kb.settings, kb.signer, staged, existing, thread.id if thread else None, now)
    try:
        the_plan = await loop.run_in_executor(pool, planning.make_plan, *args)
    except BrokenProcessPool:  # workers could not start (a __main__ without its guard)
        log.warning("rendering in worker processes failed; rendering here instead")
        the_plan = await loop.run_in_executor(None, planning.make_plan, *args)
    return _Prepared(group, thread, known_threads, the_plan)


def _unchanged(ready: _Prepared, report: ImportReport) -> bool:
    """Whether the thread needs no write (counted in the report if so)."""
    group, the_plan = ready.group, ready.plan
    report.comments_already_imported += the_plan.already
    if ready.thread is None and not the_plan.count and not the_plan.already:
        # Disqus lists every page ever shown with its widget, most without a comment
        report.notice("pages without comments: no thread opened")
        return True
    known = ready.known_threads >= set(group.source_ids)
    if ready.thread is not None and not the_plan.count and known:
        report.threads_unchanged += 1
        return True
    return False


async def _write_batch(
    kb: Kibitz, batch: list[_Prepared], options: ImportOptions, report: ImportReport,
    now: datetime,
) -> None:  # fmt: skip
    """Several whole threads in one transaction (one commit instead of one each). If it
    fails, each is written again alone, so only the thread at fault is left out."""

    # A dry run on SQLite only reads, so readers' comments are not kept waiting on the write
    # lock; on PostgreSQL (no such lock) it writes and rolls back, which also checks what
    # only the database checks (the lengths of its columns)
    only_read = options.dry_run and kb.db.is_sqlite

    def tx(conn: Connection) -> list[tuple[bool, int]]:
        results = [_write(conn, r.group, options.label, r.plan, now, only_read=only_read)
                   for r in batch]  # fmt: skip
        if options.dry_run and not only_read:
            raise _DryRun(results)
        return results

    try:
        results = await (kb.db.read(tx) if only_read else kb.db.write(tx))
    except _DryRun as dry:
        results = dry.result
    except Exception as exc:
        if len(batch) > 1:
            for ready in batch:
                await _write_batch(kb, [ready], options, report, now)
            return
        group = batch[0].group
        log.exception("importing thread %s failed", group.key)
        report.failed_threads += 1
        report.skip(
            Skip(
                kind="thread",
                id=group.source_ids[0],
                where=group.key,
                reason=f"could not be written ({type(exc).__name__}: {exc}); "
                f"{batch[0].plan.count} comments not imported",
            )
        )
        return
    for ready, (created, n) in zip(batch, results, strict=True):
        if not options.dry_run:
            kb.cache.invalidate(ready.group.key)
        for message in set(ready.plan.notices):
            report.notice(message, ready.plan.notices.count(message))
        if created:
            report.threads_created += 1
        else:
            report.threads_updated += 1
        report.comments_imported += n
        for generation in ready.plan.generations:
            for row in generation:
                status = row.values["status"]
                report.statuses[status] = report.statuses.get(status, 0) + 1


class _Workers:
    """The worker processes a large import renders in, on every core, started as soon as
    reading shows the file is large: each takes seconds to start (Python, then kibitz's
    modules), which reading, on one core, leaves the others free to spend. A small import is
    quicker without them."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        # start() runs in the reading thread, which goes on when the import is cancelled
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        cores = os.cpu_count() or 1
        with self._lock:
            if self.pool is not None or self._closed or cores < 2:
                return
            spawn = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(cores, mp_context=spawn, initializer=planning.ready)
            for _ in range(cores):  # any task: none finds an idle process yet: each starts one
                self.pool.submit(os.getpid)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


async def import_file(
    kb: Kibitz, file: IO[bytes], options: ImportOptions, progress: Progress | None = None
) -> ImportReport:
    """Import an export of another system. Raises ImportFailed when the file cannot be read
    as that format at all (nothing is written then)."""
    report = ImportReport(format=options.format, source=options.label, dry_run=options.dry_run)
    workers = _Workers()
    staging: Staging | None = None
    try:
        staging = await asyncio.to_thread(stage, file, options, report, progress, workers.start)
        groups = await asyncio.to_thread(_groups, staging, options, report)
        keys = [g.key for g in groups]
        before = await kb.db.read(lambda conn: _known_up_front(conn, options.label, keys))
        pool = workers.pool
        # enough threads in flight that the workers render while this process writes
        window = 64 if pool is not None else 2
        now = thread_service.now()
        pending: deque[asyncio.Future[_Prepared]] = deque()
        batch: list[_Prepared] = []
        done = 0
        for n, group in enumerate(groups, 1):
            pending.append(
                asyncio.ensure_future(
                    _prepare(kb, staging, group, options.label, now, pool, before)
                )
            )
            while len(pending) >= window or (pending and n == len(groups)):
                ready = await pending.popleft()
                if not _unchanged(ready, report):
                    batch.append(ready)
                done += 1
                size = sum(r.plan.count for r in batch)
                if batch and (size >= BATCH_COMMENTS or len(batch) >= 50 or done == len(groups)):
                    await _write_batch(kb, batch, options, report, now)
                    batch = []
                if progress:
                    progress("write", done, len(groups))
    finally:
        for task in pending if "pending" in locals() else ():
            task.cancel()
        workers.shutdown()
        if staging is not None:
            staging.close()
    return report
