"""Notifications follow visibility: subscribers hear of a comment once, when it is first
published, whatever moderation does to it before or after; moderators hear of reports."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from kibitz.app import create_app
from kibitz.mail.worker import Worker
from tests.conftest import ORIGIN, Inbox
from tests.factories import post_comment, read_thread
from tests.moderators import csrf_of, dashboard, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
LIMITS = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=1000/3600"


async def test_a_comment_is_announced_once_when_first_published(
    make_client: Any, smtp: Any
) -> None:
    inbox, port = smtp
    admin = await dashboard(
        make_client,
        moderation="everyone",
        rate_limits=LIMITS,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        moderator_emails=["mod@example.org"],
        moderation_reports_to_hold=2,
    )
    kb = admin.kb
    worker = Worker(kb)
    follower = await make_client(kb=kb)
    opener = await post_comment(
        follower,
        "I follow this",
        author_name="Nadia",
        author_email="nadia@example.org",
        notify="thread",
        expect=202,
    )
    await submit(admin, "/admin/comments/action", {"one": f"{opener['id']}:approve"})
    await kb.db.write(
        lambda c: c.exec_driver_sql("UPDATE subscribers SET confirmed_at = created_at")
    )
    await worker.drain()
    writer = await make_client(kb=kb)
    held = await post_comment(writer, "Held until approved", expect=202)
    await worker.drain()

    def news() -> list[Any]:
        return [m for m in inbox.to("nadia@example.org") if "New comment" in m["Subject"]]

    assert news() == []  # nothing while it waits
    await submit(admin, "/admin/comments/action", {"one": f"{held['id']}:approve"})
    await worker.drain()
    assert len(news()) == 1
    # readers report it: it is held again, the moderators hear why
    for n in (1, 2):
        transport = httpx.ASGITransport(app=create_app(kb=kb), client=(f"198.51.100.{n}", 1))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as reporter:
            r = await reporter.post(
                f"/api/v1/comments/{held['id']}/report", json={"reason": "abuse"}
            )
            assert r.status_code == 202
    await worker.drain()
    assert [c["id"] for c in (await read_thread(follower))["comments"]] == [opener["id"]]
    reported = [m for m in inbox.to("mod@example.org") if "after reader reports" in m["Subject"]]
    assert len(reported) == 1 and "/admin/comments/" in reported[0].as_string()
    queue = await admin.get("/admin/comments", params={"queue": "reported"})
    assert "Held until approved" in queue.text and "2 reports" in queue.text
    # published again: no second mail to the follower
    await submit(admin, "/admin/comments/action", {"one": f"{held['id']}:approve"})
    await worker.drain()
    assert len(news()) == 1
    assert len((await read_thread(follower))["comments"]) == 2
    assert (
        "Held until approved"
        not in (await admin.get("/admin/comments", params={"queue": "reported"})).text
    )


async def _act_by_link(client: httpx.AsyncClient, mail: Any, action: str) -> httpx.Response:
    """Open the mailed link and press its button, as a moderator does."""
    [link] = re.findall(rf"{action}: http://127\.0\.0\.1:8000(\S+)", Inbox.text(mail))
    page = await client.get(link)
    assert page.status_code == 200
    token = unquote(link.split("token=", 1)[1])
    return await client.post("/moderate", data={"_csrf_token": csrf_of(page.text), "token": token})


async def test_a_mailed_link_acts_once_even_if_the_comment_is_held_again(
    make_client: Any, smtp: Any
) -> None:
    inbox, port = smtp
    writer = await make_client(
        moderation="everyone", rate_limits=LIMITS, smtp_host="127.0.0.1", smtp_port=port,
        smtp_security="none", moderator_emails=["mod@example.org"], moderation_reports_to_hold=2,
    )  # fmt: skip
    kb = writer.kb
    worker = Worker(kb)
    held = await post_comment(writer, "Approve me, then hold me", expect=202)
    await worker.drain()
    [first] = inbox.to("mod@example.org")
    assert (await _act_by_link(writer, first, "Approve")).status_code == 200
    assert [c["id"] for c in (await read_thread(writer))["comments"]] == [held["id"]]
    for n in (1, 2):  # readers report it: it is held again
        transport = httpx.ASGITransport(app=create_app(kb=kb), client=(f"198.51.100.{n}", 1))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as reporter:
            r = await reporter.post(
                f"/api/v1/comments/{held['id']}/report", json={"reason": "spam"}
            )
            assert r.status_code == 202
    await worker.drain()
    assert (await read_thread(writer))["comments"] == []
    # the first mail's links belong to the first hold: approving from it again does nothing
    replayed = await _act_by_link(writer, first, "Approve")
    assert replayed.status_code == 409
    assert (await read_thread(writer))["comments"] == []
    # the mail about this hold has links of its own, good once
    [second] = [m for m in inbox.to("mod@example.org") if "after reader reports" in m["Subject"]]
    assert (await _act_by_link(writer, second, "Reject")).status_code == 200
    assert (await _act_by_link(writer, second, "Approve")).status_code == 409
    assert (await read_thread(writer))["comments"] == []
