"""What an admin sees of mail that failed, and how they send it again: `kibitz mail status`,
`kibitz mail retry`, the dashboard's Mail page; and `kibitz mail test` when the server says no.
Readers' addresses never appear whole, neither there nor in the worker's log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from kibitz.db.tables import audit_log, outbox
from kibitz.mail.worker import Worker, utcnow
from tests.conftest import Inbox, free_port
from tests.factories import THREAD, post_comment
from tests.moderators import csrf, dashboard, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")
KIBITZ = str(Path(sys.executable).with_name("kibitz"))
LIMITS = "comment.voter=1000/60,comment.ip=1000/60,subscribe.email=1000/3600"


class Refusing(Inbox):
    """An SMTP server that refuses every recipient until told otherwise."""

    refuse = True

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def refusing() -> Iterator[tuple[Refusing, int]]:
    inbox, port = Refusing(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def kibitz(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": database_url,
               "KIBITZ_LOG_LEVEL": "warning", **env}  # fmt: skip
    return subprocess.run([KIBITZ, *args], env=environ, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


async def failed_subscription_mail(client: Any, port: int) -> Worker:
    """A reader subscribes; the server refuses the confirmation mail for longer than the
    give-up age."""
    worker = Worker(client.kb)
    await post_comment(client, "Opening the thread")
    r = await client.post("/api/v1/subscriptions",
                          json={"email": "nadia@example.org", "thread": THREAD})  # fmt: skip
    assert r.status_code == 202
    await worker.drain()
    await worker.drain(now=utcnow() + timedelta(hours=73))
    return worker


def mail_settings(port: int) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
            "rate_limits": LIMITS}  # fmt: skip


async def statuses(kb: Any) -> list[str]:
    query = sa.select(outbox.c.status).where(outbox.c.topic == "mail")
    return list(await kb.db.read(lambda c: c.execute(query).scalars().all()))


async def test_status_and_retry_from_the_command_line(
    make_client: Any, refusing: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = refusing
    client = await make_client(**mail_settings(port))
    with caplog.at_level(logging.WARNING, logger="kibitz.worker"):
        worker = await failed_subscription_mail(client, port)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "given up" in logged and "n…@example.org" in logged
    assert "nadia@example.org" not in logged
    assert await statuses(client.kb) == ["failed"]

    shown = kibitz(database_url, "mail", "status")
    assert shown.returncode == 0, shown.stderr
    assert "failed   mail     1" in shown.stdout
    assert "to n…@example.org: Confirm your subscription" in shown.stdout
    assert "no such mailbox here" in shown.stdout and "nadia@example.org" not in shown.stdout
    assert kibitz(database_url, "mail", "retry").returncode == 2  # which rows?
    unknown = kibitz(database_url, "mail", "retry", "--id", "999")
    assert unknown.returncode == 1 and "999" in unknown.stderr

    retried = kibitz(database_url, "mail", "retry", "--failed")
    assert retried.returncode == 0 and "queued 1 again" in retried.stdout
    entry = await client.kb.db.read(lambda c: c.execute(
        sa.select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)).one())  # fmt: skip
    assert tuple(entry) == ("command line", "retry_mail", "outbox:failed")
    await worker.drain()  # still refused, but the give-up age starts again from the retry
    assert await statuses(client.kb) == ["queued"]
    inbox.refuse = False
    await worker.drain(now=utcnow() + timedelta(minutes=5))
    assert [m["Subject"] for m in inbox.to("nadia@example.org")] == [
        "Confirm your subscription to comments on kibitz"
    ]
    assert await statuses(client.kb) == ["sent"]


async def test_the_mail_page_shows_failures_and_retries_them(
    make_client: Any, refusing: Any
) -> None:
    inbox, port = refusing
    admin = await dashboard(make_client, **mail_settings(port))
    worker = await failed_subscription_mail(admin, port)
    page = await admin.get("/admin/mail")
    assert page.status_code == 200
    assert "n…@example.org" in page.text and "nadia@example.org" not in page.text
    assert "no such mailbox here" in page.text and 'href="/admin/mail"' in page.text
    query = sa.select(outbox.c.id).where(outbox.c.topic == "mail")
    row_id = await admin.kb.db.read(lambda c: c.execute(query).scalar_one())
    # a form without the page's CSRF token does nothing
    forged = await admin.post("/admin/mail/retry", data={"id": str(row_id)})
    assert forged.status_code == 403 and await statuses(admin.kb) == ["failed"]
    done = await submit(admin, "/admin/mail/retry", {"id": str(row_id)}, page="/admin/mail")
    assert done.headers["location"].startswith("/admin/mail?notice=Queued+again")
    entry = await admin.kb.db.read(lambda c: c.execute(
        sa.select(audit_log.c.actor, audit_log.c.target)
        .where(audit_log.c.action == "retry_mail")).one())  # fmt: skip
    assert tuple(entry) == ("Admin", f"outbox:{row_id}")
    inbox.refuse = False
    await worker.drain()
    assert len(inbox.to("nadia@example.org")) == 1
    assert "Nothing has failed." in (await admin.get("/admin/mail")).text


async def test_the_mail_page_is_for_admins_only(make_client: Any) -> None:
    moderator = await dashboard(make_client, role="moderator")
    assert "/admin/mail" not in (await moderator.get("/admin/comments")).text
    assert (await moderator.get("/admin/mail")).status_code == 403
    token = await csrf(moderator, "/admin")
    refused = await moderator.post("/admin/mail/retry", data={"_csrf_token": token})
    assert refused.status_code == 403
    anonymous = await make_client(kb=moderator.kb)
    r = await anonymous.get("/admin/mail", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/login?next=%2Fadmin%2Fmail"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_mail_test_says_why_the_server_refused(tmp_path: Path) -> None:
    port = free_port()
    controller = Controller(
        Inbox(), hostname="127.0.0.1", port=port, auth_required=True, auth_require_tls=False,
        authenticator=lambda *args: AuthResult(success=False, handled=False),
    )  # fmt: skip
    controller.start()
    try:
        result = kibitz(
            f"sqlite:///{tmp_path}/k.db", "mail", "test", "ed@example.org",
            KIBITZ_SMTP_HOST="127.0.0.1", KIBITZ_SMTP_PORT=str(port),
            KIBITZ_SMTP_SECURITY="none", KIBITZ_SMTP_USER="kibitz",
            KIBITZ_SMTP_PASSWORD="wrong",
        )  # fmt: skip
    finally:
        controller.stop()
    assert result.returncode == 1
    assert result.stderr.startswith("kibitz: the SMTP server refused the mail:")
    assert "535" in result.stderr and "Traceback" not in result.stderr
