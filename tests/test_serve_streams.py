"""``kibitz serve`` as a publisher runs it, alone (no Redis): streams work, and a restart is
not held up by the streams that browsers keep open."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.cluster import kibitz_serve
from tests.factories import THREAD, post_comment
from tests.sse import open_stream


async def test_serve_streams_and_stops_promptly_with_streams_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    with kibitz_serve(tmp_path, url, auto_migrate="true", shutdown_grace_seconds="1") as p:
        async with (
            p.client() as author,
            p.client() as reader,
            open_stream(reader, THREAD) as stream,
        ):
            await stream.next_named("ready")
            posted = await post_comment(author, "live, with nothing to install")
            event = await stream.next_named("comment", timeout=1.0)
            assert event.data["comment"]["id"] == posted["id"]
            p.proc.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            while p.proc.poll() is None:
                assert time.monotonic() - stopping < 8, "an open stream held up the stop"
                time.sleep(0.05)
            # uvicorn exits through the signal it handled, once it has shut down cleanly
            assert p.proc.returncode in (0, -signal.SIGTERM)
            assert "Finished server process" in p.log.read_text()


async def test_processes_sharing_one_machine_without_redis_feed_each_others_streams(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    with (
        kibitz_serve(tmp_path, url, auto_migrate="true") as a,
        kibitz_serve(tmp_path, url) as b,
    ):
        async with (
            a.client() as author,
            b.client() as reader,
            open_stream(reader, THREAD) as stream,
        ):
            await stream.next_named("ready")
            posted = await post_comment(author, "from the other process")
            posted_at = time.monotonic()
            event = await stream.next_named("comment", timeout=2.0)
            assert event.data["comment"]["id"] == posted["id"]
            assert time.monotonic() - posted_at < 1.0
