"""The worker: claims outbox rows, carries them out, records what happened.

Runs inside ``kibitz serve`` by default, or alone as ``kibitz worker``; any number of workers
may run at once. Tests drive it with ``run_once()`` and ``drain()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz.context import Kibitz
from kibitz.db.tables import comments, digest_items, subscribers, threads
from kibitz.mail import backends, messages, outbox, status, webhooks
from kibitz.services import comments as comment_service
from kibitz.services import subscriptions as subs

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kibitz.worker")

# how often a running worker looks for digests that are due (they are due daily or so);
# not on every wake-up, which comes with every comment
DIGEST_CHECK_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    def __init__(
        self,
        kb: Kibitz,
        *,
        name: str | None = None,
        backend: backends.MailBackend | None = None,
        http: httpx.AsyncClient | None = None,
        batch: int = 20,
    ) -> None:
        self.kb = kb
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.backend = backend or backends.backend_for(kb.settings)
        self.http = http
        self.batch = batch
        self.wake = asyncio.Event()
        self._digests_checked = -DIGEST_CHECK_SECONDS

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.kb.settings.outbox_lease_seconds)

    async def run_once(self, now: datetime | None = None, *, digests: bool = True) -> int:
        """Queue due digests (unless ``digests`` is False), then claim and carry out one
        batch. Returns rows handled."""
        at = now or utcnow()
        if digests:
            cutoff = at - timedelta(seconds=self.kb.settings.digest_interval_seconds)
            # looked for in a read; the write (which queues writers behind it) only when due
            if await self.kb.db.read(lambda conn: bool(_due_digests(conn, cutoff))):
                await self.kb.db.write(lambda conn: self._queue_digests(conn, at))
        jobs = await self.kb.db.write(
            lambda conn: outbox.claim(conn, self.name, now=at, lease=self.lease, limit=self.batch)
        )
        for job in jobs:
            await self._carry_out(job, now)
        return len(jobs)

    async def drain(self, now: datetime | None = None, rounds: int = 100) -> int:
        """Run until nothing is due (for tests and `kibitz worker --once`)."""
        total = 0
        for _ in range(rounds):
            handled = await self.run_once(now)
            total += handled
            if not handled:
                break
        return total

    async def run_forever(self, stop: asyncio.Event, poll: float = 2.0) -> None:
        log.info("worker %s started", self.name)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            # cleared before the round: a comment committed while the round runs wakes the
            # next one, so a round that found less than a batch can wait without losing it
            self.wake.clear()
            digests = loop.time() - self._digests_checked >= DIGEST_CHECK_SECONDS
            if digests:
                self._digests_checked = loop.time()
            try:
                handled = await self.run_once(digests=digests)
            except Exception:  # keep going: the next round retries
                log.exception("worker round failed")
                handled = 0
            if handled >= self.batch or self.wake.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self.wake.wait()),
                ]
                try:
                    await asyncio.wait(waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        if self.http is not None:
            await self.http.aclose()

    async def _carry_out(self, job: outbox.Job, simulated: datetime | None = None) -> None:
        """Carry out one claimed row, if this worker still holds it. ``simulated``: the time
        a test runs the round at (else the clock's)."""

        def clock() -> datetime:
            return simulated or utcnow()

        def still_mine(conn: Connection) -> bool:
            return outbox.renew(conn, job, self.name, now=clock(), lease=self.lease)

        if job.topic == "fanout":  # database work only: renewed, done and recorded in one go
            await self._fan_out(job, clock)
            return
        if not await self.kb.db.write(still_mine):
            _lease_lost(job)
            return
        try:
            if job.topic == "mail":
                message = backends.build(self.kb.settings, job.payload, job.key)
                await self.backend.send(message)
            elif job.topic == "webhook":
                if self.http is None:
                    # imported with the first webhook: 6 MB per worker, for sites that have
                    # webhooks
                    import httpx

                    self.http = httpx.AsyncClient()
                await webhooks.deliver(self.http, self.kb.settings, job.payload)
            else:
                raise ValueError(f"unknown topic {job.topic!r}")
        except Exception as exc:
            await self._failed(job, exc, clock())
            return
        await self.kb.db.write(lambda conn: outbox.done(conn, job, self.name, now=clock()))

    async def _failed(self, job: outbox.Job, exc: Exception, now: datetime) -> None:
        error = f"{type(exc).__name__}: {exc}"
        give_up_after = timedelta(hours=self.kb.settings.outbox_give_up_hours)
        gave_up = await self.kb.db.write(
            lambda conn: outbox.failed(
                conn, job, self.name, error, now=now, give_up_after=give_up_after
            )
        )
        level = logging.ERROR if gave_up else logging.WARNING
        log.log(level, "%s %s (try %d): %s", status.described(job),
                "given up" if gave_up else "failed", job.attempts,
                status.mask_addresses(error))  # fmt: skip

    # -- a comment became visible: one mail per subscriber who wants it

    async def _fan_out(self, job: outbox.Job, clock: Callable[[], datetime]) -> None:
        comment_id = int(job.payload["comment_id"])

        def tx(conn: Connection) -> bool:
            if not outbox.renew(conn, job, self.name, now=clock(), lease=self.lease):
                return False
            self._expand(conn, comment_id, clock())
            outbox.done(conn, job, self.name, now=clock())
            return True

        try:
            mine = await self.kb.db.write(tx)
        except Exception as exc:
            await self._failed(job, exc, clock())
            return
        if not mine:
            _lease_lost(job)

    def _page_link(self, thread: Any, comment_id: int) -> str:
        base = thread.url or self.kb.settings.public_origin + (
            thread.key if thread.key.startswith("/") else "/"
        )
        return f"{base}#kibitz-comment-{comment_id}"

    def _expand(self, conn: Connection, comment_id: int, now: datetime) -> None:
        comment = comment_service.get_row(conn, comment_id)
        if comment is None or comment.status != "approved":
            return  # deleted or held since: nobody hears of it
        thread = conn.execute(sa.select(threads).where(threads.c.id == comment.thread_id)).one()
        kb = self.kb
        for sub in subs.recipients(conn, comment):
            if sub.digest:
                subs._insert_ignore(
                    conn, digest_items, subscriber_id=sub.id, comment_id=comment.id, created_at=now
                )
                continue
            payload = messages.notification(
                kb,
                email=sub.email,
                reason=sub.kind,
                author=comment.author_name,
                body_md=comment.body_md,
                body_html=comment.body_html,
                thread_title=thread.title or thread.key,
                link=self._page_link(thread, comment.id),
                unsubscribe=self._unsubscribe_url(sub.id, sub.subscription_id),
                manage=self._manage_url(sub.id),
            )
            outbox.enqueue(conn, "mail", f"notify:{comment.id}:{sub.id}", payload, at=now)

    def _unsubscribe_url(self, subscriber_id: int, subscription_id: int | None) -> str:
        token = subs.unsubscribe_token(self.kb, subscriber_id, subscription_id)
        return messages._url(self.kb, "/subscriptions/unsubscribe", token=token)

    def _manage_url(self, subscriber_id: int) -> str:
        token = subs.manage_token(self.kb, subscriber_id)
        return messages._url(self.kb, "/subscriptions/manage", token=token)

    # -- daily digests

    def _queue_digests(self, conn: Connection, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.kb.settings.digest_interval_seconds)
        for sid in _due_digests(conn, cutoff):
            sub = conn.execute(sa.select(subscribers).where(subscribers.c.id == sid)).one()
            rows = conn.execute(
                sa.select(digest_items.c.id, comments.c.id.label("comment_id"),
                          comments.c.author_name, comments.c.body_md, comments.c.body_html,
                          comments.c.status, comments.c.thread_id, comments.c.parent_id,
                          threads.c.title, threads.c.key, threads.c.url)
                .join(comments, comments.c.id == digest_items.c.comment_id)
                .join(threads, threads.c.id == comments.c.thread_id)
                .where(digest_items.c.subscriber_id == sid)
                .order_by(comments.c.created_at, comments.c.id)
            ).all()  # fmt: skip
            items = [
                {"author": r.author_name, "body_md": r.body_md, "body_html": r.body_html,
                 "thread_title": r.title or r.key,
                 "link": self._page_link(r, r.comment_id)}
                for r in rows
                # still published, and still asked for: a subscription removed since the
                # comment was collected takes it out of the digest
                if r.status == "approved" and subs.still_wanted(conn, sid, r)
            ]  # fmt: skip
            if items:
                payload = messages.digest(
                    self.kb, email=sub.email, items=items,
                    unsubscribe=self._unsubscribe_url(sid, None), manage=self._manage_url(sid),
                )  # fmt: skip
                last = max(r.id for r in rows)
                outbox.enqueue(conn, "mail", f"digest:{sid}:{last}", payload, at=now)
            conn.execute(sa.delete(digest_items).where(digest_items.c.id.in_([r.id for r in rows])))


def _due_digests(conn: Connection, cutoff: datetime) -> list[int]:
    """Subscribers whose oldest collected comment is older than the cutoff."""
    return list(
        conn.execute(
            sa.select(digest_items.c.subscriber_id)
            .group_by(digest_items.c.subscriber_id)
            .having(sa.func.min(digest_items.c.created_at) <= cutoff)
        ).scalars()
    )


def _lease_lost(job: outbox.Job) -> None:
    log.warning("%s: lease ran out before its turn; left to the next claim", status.described(job))
