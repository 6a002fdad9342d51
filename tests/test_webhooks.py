"""Webhooks as a receiver sees them: one per change of a comment, signed so that the snippet
in docs/webhooks.md verifies them, retried until the receiver answers, recorded as failed
when it never does."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import outbox
from kibitz.docs import ROOT
from kibitz.mail import status
from kibitz.mail.worker import Worker, utcnow
from tests.factories import THREAD, post_comment
from tests.moderators import dashboard, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
SECRET = "whsec_" + base64.b64encode(b"the receiver and kibitz share this").decode()
LIMITS = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=1000/3600"
Delivery = tuple[dict[str, str], bytes]


class Receiver:
    """A real HTTP server on loopback that answers ``failures`` requests with 500 first."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[Delivery] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.failures > 0
                receiver.failures -= failing
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/kibitz?key=private"

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    threading.Thread(target=r.server.serve_forever, daemon=True).start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def documented_verify() -> Callable[..., bool]:
    """The ``verify`` function of docs/webhooks.md, run as a receiver would copy it."""
    page = (ROOT / "docs/webhooks.md").read_text(encoding="utf-8")
    section = page.split("## Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    space: dict[str, Any] = {}
    exec(code.group(1), space)
    verify: Callable[..., bool] = space["verify"]
    return verify


async def test_each_change_of_a_comment_is_a_webhook_and_readers_hear_once(
    make_client: Any, smtp: Any, receiver: Receiver
) -> None:
    inbox, port = smtp
    admin = await dashboard(
        make_client, moderation="everyone", rate_limits=LIMITS, smtp_host="127.0.0.1",
        smtp_port=port, smtp_security="none", webhook_urls=[receiver.url], webhook_secret=SECRET,
    )  # fmt: skip
    kb = admin.kb
    worker = Worker(kb)
    follower = await make_client(kb=kb)
    await post_comment(follower, "I follow", author_name="Nadia",
                       author_email="nadia@example.org", notify="thread", expect=202)  # fmt: skip
    await kb.db.write(
        lambda c: c.exec_driver_sql("UPDATE subscribers SET confirmed_at = created_at")
    )
    held = await post_comment(await make_client(kb=kb), "Held, then shown", expect=202)
    await worker.drain()
    assert receiver.events() == []  # nothing while it waits
    for action in ("approve", "reject", "approve", "delete"):
        await submit(admin, "/admin/comments/action", {"one": f"{held['id']}:{action}"})
        await worker.drain()
    assert receiver.events() == [
        "comment.approved", "comment.hidden", "comment.approved", "comment.deleted"
    ]  # fmt: skip
    bodies = [json.loads(body) for _, body in receiver.received]
    assert all(b["data"] == {"id": held["id"], "thread": THREAD} for b in bodies)
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 4
    news = [m for m in inbox.to("nadia@example.org") if "New comment" in m["Subject"]]
    assert len(news) == 1  # published twice, mailed once


async def test_a_receiver_verifies_with_the_documented_snippet(
    make_client: Any, receiver: Receiver
) -> None:
    writer = await make_client(webhook_urls=[receiver.url], webhook_secret=SECRET)
    posted = await post_comment(writer, "Signed and sealed")
    voter = await make_client(kb=writer.kb)
    r = await voter.post(f"/api/v1/comments/{posted['id']}/vote", json={"value": 1})
    assert r.status_code == 200
    await Worker(writer.kb).drain()
    assert receiver.events() == ["comment.created", "vote.changed"]
    verify = documented_verify()
    for headers, body in receiver.received:
        assert headers["content-type"] == "application/json"
        assert verify(SECRET, headers, body)
        assert not verify(SECRET, headers, body.replace(b'"thread":', b'"thread": '))
        assert not verify("whsec_" + base64.b64encode(b"another key").decode(), headers, body)
        assert not verify(SECRET, {**headers, "webhook-timestamp": "1700000000"}, body)
    assert json.loads(receiver.received[1][1])["data"] == {
        "comment": posted["id"], "thread": THREAD, "up": 1, "down": 0, "score": 1
    }  # fmt: skip


async def _webhook_row(kb: Any) -> Any:
    return await kb.db.read(lambda c: c.execute(
        sa.select(outbox.c.status, outbox.c.attempts, outbox.c.last_error)
        .where(outbox.c.topic == "webhook")).one())  # fmt: skip


async def test_a_failing_receiver_gets_the_event_again_until_it_answers(
    make_client: Any, receiver: Receiver
) -> None:
    receiver.failures = 2
    writer = await make_client(webhook_urls=[receiver.url], webhook_secret=SECRET)
    worker = Worker(writer.kb)
    await post_comment(writer, "Try, try again")
    start = utcnow()
    await worker.drain(now=start)
    row = await _webhook_row(writer.kb)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == "RuntimeError: webhook answered 500"
    await worker.drain(now=start + timedelta(seconds=10))  # not due yet: 30 s backoff
    assert len(receiver.received) == 1
    await worker.drain(now=start + timedelta(seconds=31))
    await worker.drain(now=start + timedelta(minutes=2))
    row = await _webhook_row(writer.kb)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1  # one event, three tries
    assert len({body for _, body in receiver.received}) == 1


async def test_a_receiver_that_never_answers_is_recorded_as_failed(
    make_client: Any, receiver: Receiver
) -> None:
    receiver.failures = 1000
    writer = await make_client(webhook_urls=[receiver.url], webhook_secret=SECRET)
    worker = Worker(writer.kb)
    await post_comment(writer, "Nobody listens")
    start = utcnow()
    await worker.drain(now=start)
    await worker.drain(now=start + timedelta(hours=73))
    assert (await _webhook_row(writer.kb)).status == "failed"
    report = await status.report(writer.kb)
    [failure] = report.failures
    assert (failure.topic, failure.what, failure.attempts) == ("webhook", "comment.created", 2)
    assert failure.to == f"http://127.0.0.1:{receiver.server.server_port}/…"  # no path, no key
    assert failure.error == "RuntimeError: webhook answered 500"
