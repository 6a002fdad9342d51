"""Notify of: subscriptions, confirmation, mail for new comments and replies, digests,
one-click unsubscribe, webhooks; against a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import hashlib
import hmac
import json
import re
import threading
import time
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from kibitz.app import create_app
from kibitz.db.tables import outbox
from kibitz.mail.worker import Worker, utcnow
from tests.conftest import ORIGIN, Inbox, free_port
from tests.factories import THREAD, post_comment

LIMITS = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=1000/3600"


def mail_settings(port: int, **extra: Any) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
            "site_name": "SouthFront", "rate_limits": LIMITS, **extra}  # fmt: skip


def link_in(message: Message, path: str) -> str:
    match = re.search(rf"http://127\.0\.0\.1:8000{path}\?token=(\S+)", Inbox.text(message))
    assert match, Inbox.text(message)
    return f"{path}?token={match.group(1)}"


async def confirm(client: Any, inbox: Inbox, address: str) -> None:
    [mail] = [m for m in inbox.to(address) if "Confirm" in m["Subject"]]
    link = link_in(mail, "/subscriptions/confirm")
    page = await client.get(link)
    assert page.status_code == 200 and "Confirm" in page.text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"_csrf_token": token.group(1), "token": unquote(link.split("token=", 1)[1])}
    done = await client.post("/subscriptions/confirm", data=form)
    assert done.status_code == 200 and "Subscription confirmed" in done.text


async def setup(make_client: Any, port: int, **extra: Any) -> tuple[Any, Any, Worker]:
    """A thread with one comment, a subscriber's browser and a commenter's, and a worker."""
    reader = await make_client(**mail_settings(port, **extra))
    writer = await make_client(kb=reader.kb)
    await post_comment(writer, "The first comment", author_name="Al", expect=None)
    return reader, writer, Worker(reader.kb)


async def test_subscribe_confirm_then_get_new_comments(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    r = await reader.post("/api/v1/subscriptions", json={"email": "nadia@example.org",
                                                         "thread": THREAD})  # fmt: skip
    assert r.status_code == 202 and r.json() == {"status": "confirmation_sent"}
    await post_comment(writer, "Before confirming", author_name="Bo")
    await worker.drain()
    assert [m["Subject"] for m in inbox.to("nadia@example.org")] == [
        "Confirm your subscription to comments on SouthFront"
    ]  # nothing else until confirmed
    await confirm(reader, inbox, "nadia@example.org")
    again = await reader.post("/api/v1/subscriptions", json={"email": "Nadia@Example.org ",
                                                             "thread": THREAD})  # fmt: skip
    assert again.json() == {"status": "subscribed"}
    posted = await post_comment(writer, "A *new* comment", author_name="Bo")
    await worker.drain()
    [note] = [m for m in inbox.to("nadia@example.org") if "New comment" in m["Subject"]]
    text = Inbox.text(note)
    assert "Bo wrote on" in text and "A *new* comment" in text and "SouthFront" in note["From"]
    assert f"#kibitz-comment-{posted['id']}" in text
    assert note["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert note["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/subscriptions/unsubscribe")
    assert note["Message-ID"].endswith("@127.0.0.1>")


async def test_no_state_changes_on_a_get(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain()
    [mail] = inbox.to("n@example.org")
    await reader.get(link_in(mail, "/subscriptions/confirm"))  # a mail scanner follows it
    await post_comment(writer, "Still unconfirmed")
    await worker.drain()
    assert len(inbox.to("n@example.org")) == 1


async def test_no_mail_for_ones_own_comment_nor_for_held_ones(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await post_comment(reader, "I follow this", author_name="Nadia",
                       author_email="nadia@example.org", notify="thread")  # fmt: skip
    await worker.drain()
    await confirm(reader, inbox, "nadia@example.org")
    await post_comment(reader, "My own second comment", author_name="Nadia",
                       author_email="NADIA@example.org")  # fmt: skip
    await worker.drain()
    assert [m["Subject"] for m in inbox.to("nadia@example.org")] == [
        "Confirm your subscription to comments on SouthFront"
    ]
    reader.kb.settings = dataclasses.replace(reader.kb.settings, moderation="all")
    await post_comment(writer, "Held for moderation", expect=202)
    await worker.drain()
    assert len(inbox.to("nadia@example.org")) == 1


async def test_replies_to_my_comments(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    mine = await post_comment(reader, "My view", author_name="Nadia",
                              author_email="nadia@example.org", notify="replies")  # fmt: skip
    await worker.drain()
    await confirm(reader, inbox, "nadia@example.org")
    await post_comment(writer, "Unrelated top-level comment")
    await post_comment(writer, "Well it is, but...", author_name="Al", parent_id=mine["id"])
    await worker.drain()
    notes = [m for m in inbox.to("nadia@example.org") if "replied" in m["Subject"]]
    assert len(notes) == 1 and "Well it is, but..." in Inbox.text(notes[0])
    assert "someone replied to your comment" in Inbox.text(notes[0])


async def test_replies_to_one_comment_and_at_most_one_mail_per_comment(
    make_client: Any, smtp: Any
) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    mine = await post_comment(reader, "Watch this one", author_name="Nadia",
                              author_email="nadia@example.org", notify="thread",
                              notify_replies=True)  # fmt: skip
    await reader.post(
        "/api/v1/subscriptions",
        json={"email": "nadia@example.org", "thread": THREAD, "kind": "replies"},
    )
    await worker.drain()
    await confirm(reader, inbox, "nadia@example.org")
    await post_comment(writer, "A reply", parent_id=mine["id"])
    await worker.drain()
    # three subscriptions ask for this reply; one mail says so
    assert len(inbox.to("nadia@example.org")) == 2  # the confirmation and one notification


async def test_notify_needs_an_email(make_client: Any, smtp: Any) -> None:
    _, port = smtp
    reader, _, _ = await setup(make_client, port)
    refused = await post_comment(reader, notify="thread", expect=422)
    assert refused["error"]["field"] == "author_email"
    bad = await reader.post("/api/v1/subscriptions", json={"email": "*@example.org",
                                                           "thread": THREAD})  # fmt: skip
    assert bad.status_code == 422
    unknown = await reader.post(
        "/api/v1/subscriptions", json={"email": "a@example.org", "thread": "/nothing"}
    )
    assert unknown.status_code == 404


async def test_one_click_unsubscribe(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain()
    await confirm(reader, inbox, "n@example.org")
    await post_comment(writer, "one")
    await worker.drain()
    [note] = [m for m in inbox.to("n@example.org") if "New comment" in m["Subject"]]
    url = note["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")
    mail_client = await make_client(kb=reader.kb)  # no cookies, no CSRF token: RFC 8058
    r = await mail_client.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    await post_comment(writer, "two")
    await worker.drain()
    assert len(inbox.to("n@example.org")) == 2
    forged = await mail_client.post("/subscriptions/unsubscribe?token=1:all.AAAA")
    assert forged.status_code == 403


async def test_preferences_and_the_daily_digest(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain()
    await confirm(reader, inbox, "n@example.org")
    await post_comment(writer, "first of the day")
    await worker.drain()
    [note] = [m for m in inbox.to("n@example.org") if "New comment" in m["Subject"]]
    manage = link_in(note, "/subscriptions/manage")
    page = await reader.get(manage)
    assert "every new comment" in page.text and "n@example.org" in page.text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    saved = await reader.post(manage, data={"_csrf_token": csrf.group(1), "action": "digest"})
    assert saved.status_code == 200 and "Saved." in saved.text
    for body in ("second", "third"):
        await post_comment(writer, f"{body} of the day")
    await worker.drain()
    assert len(inbox.to("n@example.org")) == 2  # no immediate mail any more
    await worker.drain(now=utcnow() + timedelta(days=1, minutes=1))
    digest = inbox.to("n@example.org")[-1]
    assert digest["Subject"] == "2 new comments on SouthFront"
    assert "second of the day" in Inbox.text(digest) and "third of the day" in Inbox.text(digest)


OTHER = "/2021/07/another-article"


async def _following_two_threads_by_digest(make_client: Any, smtp: Any) -> tuple[Any, ...]:
    """A reader following two threads, who had a mail about each, then chose the digest;
    a comment on each thread waits for the next digest."""
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await post_comment(writer, "Opening the other article", thread=OTHER)
    for thread in (THREAD, OTHER):
        r = await reader.post("/api/v1/subscriptions",
                              json={"email": "n@example.org", "thread": thread})  # fmt: skip
        assert r.status_code == 202, r.text
    await worker.drain()
    await confirm(reader, inbox, "n@example.org")
    await post_comment(writer, "news on the first")
    await post_comment(writer, "news on the other", thread=OTHER)
    await worker.drain()
    notes = {THREAD if "news on the first" in Inbox.text(m) else OTHER: m
             for m in inbox.to("n@example.org") if "New comment" in m["Subject"]}  # fmt: skip
    manage = link_in(notes[THREAD], "/subscriptions/manage")
    page = await reader.get(manage)
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    await reader.post(manage, data={"_csrf_token": csrf.group(1), "action": "digest"})
    await post_comment(writer, "later on the first")
    await post_comment(writer, "later on the other", thread=OTHER)
    await worker.drain()
    return reader, worker, inbox, notes, manage, csrf.group(1)


async def _next_digest(worker: Worker, inbox: Inbox) -> str:
    before = len(inbox.messages)
    await worker.drain(now=utcnow() + timedelta(days=1, minutes=1))
    [digest] = inbox.messages[before:]
    assert "new comment" in digest["Subject"]
    return Inbox.text(digest)


async def test_a_thread_removed_on_the_preferences_page_leaves_the_digest(
    make_client: Any, smtp: Any
) -> None:
    reader, worker, inbox, _, manage, csrf = await _following_two_threads_by_digest(
        make_client, smtp
    )
    page = await reader.get(manage)
    [first] = [li for li in page.text.split("<li>") if "russia-strengthening-bases" in li]
    found = re.search(r'name="id" value="(\d+)"', first)
    assert found is not None
    removed = await reader.post(
        manage, data={"_csrf_token": csrf, "action": "remove", "id": found.group(1)}
    )
    assert removed.status_code == 200
    text = await _next_digest(worker, inbox)
    assert "later on the other" in text and "later on the first" not in text


async def test_unsubscribing_from_one_thread_keeps_the_others_in_the_digest(
    make_client: Any, smtp: Any
) -> None:
    reader, worker, inbox, notes, _, _ = await _following_two_threads_by_digest(make_client, smtp)
    url = notes[THREAD]["List-Unsubscribe"].strip("<>").replace("http://127.0.0.1:8000", "")
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = await reader.post(url, content=b"List-Unsubscribe=One-Click", headers=form)
    assert r.status_code == 200
    text = await _next_digest(worker, inbox)
    assert "later on the other" in text and "later on the first" not in text


async def test_a_flood_of_subscribers_does_not_weigh_on_the_posting_request(
    make_client: Any, smtp: Any
) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await worker.drain()
    kb = reader.kb
    thread_id = await kb.db.read(lambda c: c.execute(sa.text("SELECT id FROM threads")).scalar())
    now = utcnow()
    await kb.db.write(lambda c: c.execute(
        sa.text("INSERT INTO subscribers (email, email_key, confirmed_at, digest, created_at) "
                "VALUES (:e, :e, :t, false, :t)"),
        [{"e": f"r{i}@example.org", "t": now.replace(tzinfo=None) if kb.db.is_sqlite else now}
         for i in range(1000)]))  # fmt: skip
    await kb.db.write(lambda c: c.execute(sa.text(
        "INSERT INTO subscriptions (subscriber_id, kind, thread_id, created_at, target) "
        "SELECT id, 'thread', :t, created_at, 'thread:' || :ts || ':' FROM subscribers"
    ), {"t": thread_id, "ts": str(thread_id)}))  # fmt: skip
    await post_comment(writer, "Read by a thousand")
    queued = await kb.db.read(lambda c: c.execute(
        sa.select(outbox.c.topic, sa.func.count()).where(outbox.c.status == "queued")
        .group_by(outbox.c.topic)).all())  # fmt: skip
    assert dict(queued) == {"fanout": 1}  # the request wrote one row, not a thousand
    await worker.drain(rounds=200)
    assert len(inbox.messages) == 1000
    assert len({m["To"] for m in inbox.messages}) == 1000


async def test_smtp_down_for_a_while_then_everything_arrives(make_client: Any) -> None:
    port = free_port()  # nothing listens here yet
    reader, _, worker = await setup(make_client, port)
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain()
    rows = await reader.kb.db.read(lambda c: c.execute(
        sa.select(outbox.c.status, outbox.c.attempts, outbox.c.last_error)
        .where(outbox.c.topic == "mail")).all())  # fmt: skip
    assert [(r.status, r.attempts) for r in rows] == [("queued", 1)] and rows[0].last_error
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await worker.drain(now=utcnow() + timedelta(minutes=5))
    finally:
        controller.stop()
    assert [m["Subject"] for m in inbox.messages] == [
        "Confirm your subscription to comments on SouthFront"
    ]


async def _mail_row(kb: Any) -> Any:
    return await kb.db.read(lambda c: c.execute(
        sa.select(outbox.c.status, outbox.c.attempts, outbox.c.next_attempt_at)
        .where(outbox.c.topic == "mail")).one())  # fmt: skip


async def test_smtp_down_for_hours_keeps_being_tried_then_everything_arrives(
    make_client: Any,
) -> None:
    port = free_port()  # nothing listens here for two hours
    reader, _, worker = await setup(make_client, port)
    start = utcnow()
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain(now=start)
    while (row := await _mail_row(reader.kb)).next_attempt_at <= start + timedelta(hours=2):
        await worker.drain(now=row.next_attempt_at)  # the worker tries whenever a try is due
    assert row.status == "queued" and row.attempts >= 8  # the old limit gave up at the 8th
    assert row.next_attempt_at - start < timedelta(hours=3)  # backoff never beyond an hour
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await worker.drain(now=start + timedelta(hours=3))
    finally:
        controller.stop()
    assert [m["Subject"] for m in inbox.messages] == [
        "Confirm your subscription to comments on SouthFront"
    ]
    assert (await _mail_row(reader.kb)).status == "sent"


async def test_giving_up_past_the_give_up_age(make_client: Any) -> None:
    port = free_port()
    reader, _, worker = await setup(make_client, port, outbox_give_up_hours=72)
    start = utcnow()
    await reader.post("/api/v1/subscriptions", json={"email": "n@example.org", "thread": THREAD})
    await worker.drain(now=start)
    await worker.drain(now=start + timedelta(hours=71, minutes=50))
    assert (await _mail_row(reader.kb)).status == "queued"
    await worker.drain(now=start + timedelta(hours=72, minutes=1))
    assert (await _mail_row(reader.kb)).status == "failed"


async def test_two_workers_never_send_the_same_row(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, _, _ = await setup(make_client, port)
    kb = reader.kb
    from kibitz.mail import messages
    from kibitz.mail import outbox as ob

    now = utcnow()
    await kb.db.write(lambda c: [
        ob.enqueue(c, "mail", f"bulk:{i}", messages.test_mail(kb, f"r{i}@example.org"), at=now)
        for i in range(60)])  # fmt: skip
    inbox.delay = 0.005
    one, two = Worker(kb, name="one", batch=7), Worker(kb, name="two", batch=7)
    await asyncio.gather(one.drain(), two.drain())
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(ids) == 60 and len(set(ids)) == 60


class SlowInbox(Inbox):
    """An SMTP server that takes its time over each mail (the sleep blocks its own thread,
    as a slow server would)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        time.sleep(self.delay)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


async def test_a_batch_that_outlasts_its_lease_sends_each_mail_once(make_client: Any) -> None:
    inbox = SlowInbox()
    inbox.delay = 0.3
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        reader = await make_client(**mail_settings(port, outbox_lease_seconds=1))
        kb = reader.kb
        from kibitz.mail import messages
        from kibitz.mail import outbox as ob

        now = utcnow()
        await kb.db.write(lambda c: [
            ob.enqueue(c, "mail", f"bulk:{i}", messages.test_mail(kb, f"r{i}@example.org"),
                       at=now)
            for i in range(8)])  # fmt: skip
        # each claims 4 mails under a 1 s lease and needs over 1.2 s to send them
        one, two = Worker(kb, name="one", batch=4), Worker(kb, name="two", batch=4)
        await asyncio.gather(one.drain(), two.drain())
        await asyncio.sleep(1.1)  # what a lost lease left behind is claimed again
        await one.drain()
    finally:
        controller.stop()
    ids = [m["Message-ID"] for m in inbox.messages]
    assert len(set(ids)) == 8 and len(ids) == 8, sorted(m["To"] for m in inbox.messages)


class Hooks(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hooks.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_webhooks_are_signed_like_standard_webhooks(make_client: Any, smtp: Any) -> None:
    _, port = smtp
    server = HTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hooks.received = []
    secret = base64.b64encode(b"a very secret webhook key").decode()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        reader, writer, worker = await setup(
            make_client, port, webhook_urls=[url], webhook_secret=f"whsec_{secret}"
        )
        posted = await post_comment(writer, "hooked")
        await reader.get("/api/v1/me", params={"thread": THREAD})  # as the widget does first
        r = await reader.post(f"/api/v1/comments/{posted['id']}/vote", json={"value": 1})
        assert r.status_code == 200
        await worker.drain()
    finally:
        server.shutdown()
        server.server_close()
    types = [json.loads(body)["type"] for _, body in Hooks.received]
    assert types.count("comment.created") == 2 and types.count("vote.changed") == 1
    for headers, body in Hooks.received:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(
            hmac.new(base64.b64decode(secret), signed, hashlib.sha256).digest()
        ).decode()
        assert headers["webhook-signature"] == f"v1,{expected}"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


async def test_moderators_act_on_held_comments_from_their_mail(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(
        make_client, port, moderation="all", moderator_emails=["mod@example.org"]
    )
    await post_comment(reader, "Following", author_name="Nadia",
                       author_email="nadia@example.org", notify="thread", expect=202)  # fmt: skip
    await worker.drain()
    await confirm(reader, inbox, "nadia@example.org")
    held = await post_comment(writer, "Please approve me", expect=202)
    await worker.drain()
    alerts = [m for m in inbox.to("mod@example.org") if "waiting for approval" in m["Subject"]]
    assert len(alerts) == 3  # the setup comment, Nadia's and this one
    assert not [m for m in inbox.to("nadia@example.org") if "New comment" in m["Subject"]]
    [alert] = [m for m in alerts if "Please approve me" in Inbox.text(m)]
    [approve] = re.findall(r"Approve: http://127\.0\.0\.1:8000(\S+)", Inbox.text(alert))
    page = await reader.get(approve)
    assert page.status_code == 200 and "Approve comment" in page.text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    token = unquote(approve.split("token=", 1)[1])
    done = await reader.post("/moderate", data={"_csrf_token": csrf.group(1), "token": token})
    assert done.status_code == 200 and "Comment approved" in done.text
    again = await reader.post("/moderate", data={"_csrf_token": csrf.group(1), "token": token})
    assert again.status_code == 409  # single use: the comment is no longer pending
    await worker.drain()
    notes = [m for m in inbox.to("nadia@example.org") if "New comment" in m["Subject"]]
    assert len(notes) == 1 and "Please approve me" in Inbox.text(notes[0])
    assert held["status"] == "pending"


async def test_following_a_page_nobody_commented_on_yet(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    reader = await make_client(**mail_settings(port))
    page = "http://127.0.0.1:8000/2021/07/quiet-article"
    r = await reader.post("/api/v1/subscriptions", json={
        "email": "early@example.org", "thread": "/2021/07/quiet-article",
        "thread_url": page, "thread_title": "A quiet article"})  # fmt: skip
    assert r.status_code == 202, r.text
    info = (await reader.get("/api/v1/threads", params={"key": "/2021/07/quiet-article"})).json()
    assert (info["url"], info["title"], info["comment_count"]) == (page, "A quiet article", 0)
    elsewhere = await reader.post("/api/v1/subscriptions", json={
        "email": "early@example.org", "thread": "/x",
        "thread_url": "https://evil.example/x"})  # fmt: skip
    assert elsewhere.status_code == 404
    await Worker(reader.kb).drain()
    [mail] = inbox.to("early@example.org")
    assert "Confirm" in mail["Subject"]


async def test_subscription_requests_are_rate_limited_per_address_and_per_client(
    make_client: Any, smtp: Any
) -> None:
    _, port = smtp
    limits = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=2/3600,subscribe.ip=3/3600"
    reader, _, _ = await setup(make_client, port, rate_limits=limits)
    # one address, however it is written, from different browsers
    for n, address in enumerate(("n@example.org", "N@Example.ORG ", "n@EXAMPLE.org")):
        browser = await make_client(kb=reader.kb)
        r = await browser.post("/api/v1/subscriptions", json={"email": address, "thread": THREAD})
        assert r.status_code == (202 if n < 2 else 429), (address, r.text)
    assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) > 0
    # one client, many addresses
    transport = httpx.ASGITransport(app=create_app(kb=reader.kb), client=("198.51.100.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as elsewhere:
        answers = []
        for i in range(4):
            body = {"email": f"a{i}@example.org", "thread": THREAD}
            answers.append((await elsewhere.post("/api/v1/subscriptions", json=body)).status_code)
    assert answers == [202, 202, 202, 429]


async def test_moderators_can_hear_of_every_new_comment(make_client: Any, smtp: Any) -> None:
    inbox, port = smtp
    _, writer, worker = await setup(make_client, port, moderator_emails=["mod@example.org"])
    await worker.drain()
    assert inbox.to("mod@example.org") == []  # published without moderation: nothing by default
    writer.kb.settings = dataclasses.replace(writer.kb.settings, moderator_mail_all=True)
    await post_comment(writer, "Published at once", author_name="Bo")
    await worker.drain()
    [mail] = inbox.to("mod@example.org")
    text = Inbox.text(mail)
    assert "Published at once" in text and "/admin/comments/" in text
    assert "/moderate?token=" not in text  # nothing to approve: no action links


async def test_a_comment_nobody_can_hear_of_gives_the_worker_nothing_to_do(
    make_client: Any, smtp: Any
) -> None:
    inbox, port = smtp
    reader, writer, worker = await setup(make_client, port)
    await worker.drain()

    async def fan_outs() -> int:
        return await reader.kb.db.read(lambda c: c.execute(
            sa.select(sa.func.count()).where(outbox.c.topic == "fanout")).scalar_one())  # fmt: skip

    before = await fan_outs()
    first = await post_comment(writer, "Nobody listens yet", author_name="Bo")
    await post_comment(writer, "A reply nobody asked for", author_name="Cy", parent_id=first["id"])
    assert await fan_outs() == before  # no subscription anywhere: no job
    await reader.post("/api/v1/subscriptions", json={"email": "nadia@example.org",
                                                     "thread": THREAD})  # fmt: skip
    await worker.drain()
    await confirm(reader, inbox, "nadia@example.org")
    await post_comment(writer, "Now somebody does", author_name="Bo")
    assert await fan_outs() == before + 1
    await worker.drain()
    confirmation, notification = inbox.to("nadia@example.org")
    assert "Confirm" in confirmation["Subject"]
    assert "Now somebody does" in Inbox.text(notification)
