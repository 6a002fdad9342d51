"""The worker as a real process: killed in the middle of a batch, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import outbox
from kibitz.mail import messages
from kibitz.mail import outbox as ob
from kibitz.mail.worker import utcnow

KIBITZ = str(Path(sys.executable).with_name("kibitz"))


@pytest.mark.slow
async def test_a_killed_worker_loses_no_mail(
    kb: Any,
    smtp: Any,
    database_url: str,
    tmp_path: Path,
) -> None:
    inbox, port = smtp
    inbox.delay = 0.05
    now = utcnow()
    await kb.db.write(lambda c: [
        ob.enqueue(c, "mail", f"bulk:{i}", messages.test_mail(kb, f"r{i}@example.org"), at=now)
        for i in range(40)])  # fmt: skip
    env = {"PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": database_url,
           "KIBITZ_SMTP_HOST": "127.0.0.1", "KIBITZ_SMTP_PORT": str(port),
           "KIBITZ_SMTP_SECURITY": "none", "KIBITZ_OUTBOX_LEASE_SECONDS": "2",
           "KIBITZ_LOG_LEVEL": "warning"}  # fmt: skip
    worker = subprocess.Popen([KIBITZ, "worker"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(inbox.messages) < 5:
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    sent_before = len(inbox.messages)
    assert sent_before < 40, "the worker was killed in the middle of its work"
    time.sleep(2.2)  # the dead worker's lease runs out
    again = subprocess.run([KIBITZ, "worker", "--once"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0, again.stderr
    recipients = [m["To"] for m in inbox.messages]
    assert set(recipients) == {f"r{i}@example.org" for i in range(40)}
    # a mail in flight at the kill may go twice, recognisably the same message
    by_id: dict[str, set[str]] = {}
    for m in inbox.messages:
        by_id.setdefault(m["Message-ID"], set()).add(m["To"])
    assert len(by_id) == 40 and all(len(to) == 1 for to in by_id.values())
    assert len(recipients) - 40 <= 1
    statuses = await kb.db.read(
        lambda c: c.execute(sa.select(outbox.c.status).distinct()).scalars().all()
    )
    assert statuses == ["sent"]
