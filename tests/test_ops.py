"""What operators watch: liveness, readiness, and Prometheus metrics that only they see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from kibitz.app import create_app
from kibitz.context import Kibitz
from kibitz.settings import Settings
from tests.conftest import SECRET
from tests.factories import post_comment, read_thread


async def test_healthz_and_readyz(client: Any) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_readyz_is_503_when_the_database_does_not_answer() -> None:
    # nothing listens on port 9 of loopback
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:9/none", secret_key=SECRET)
    kb = Kibitz.create(settings)
    transport = httpx.ASGITransport(app=create_app(kb=kb))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert r.json() == {"status": "not_ready", "checks": {"database": "unreachable"}}
            assert (await c.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        await kb.close()


async def test_readyz_checks_redis_when_configured(make_client: Any) -> None:
    c = await make_client(redis_url="redis://127.0.0.1:9/0")
    r = await c.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"] == {"database": "ok", "redis": "unreachable"}


async def test_metrics_are_refused_to_the_public_and_to_proxied_requests(client: Any) -> None:
    r = await client.get("/metrics")  # the test client is 203.0.113.7
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    transport = httpx.ASGITransport(app=create_app(kb=client.kb), client=("127.0.0.1", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as local:
        assert (await local.get("/metrics")).status_code == 200
        relayed = await local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"})
        assert relayed.status_code == 403


async def test_metrics_with_a_token(make_client: Any) -> None:
    c = await make_client(metrics_token="s3cret-metrics-token")
    assert (await c.get("/metrics")).status_code == 403
    wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    # the author asks to hear of follow-ups: a confirmation mail and, since someone now
    # listens, the comment's fan-out wait in the outbox
    await post_comment(c, "hello", author_email="al@example.org", notify="thread")
    await read_thread(c)
    await read_thread(c)
    await c.get("/api/v1/nothing-here")
    r = await c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'kibitz_http_requests_total{method="POST",route="/api/v1/comments",status="201"} 1.0'
        in (text)
    )
    assert 'route="unmatched",status="404"' in text  # raw paths never become labels
    assert "nothing-here" not in text
    assert (
        'kibitz_http_request_duration_seconds_count{method="GET",route="/api/v1/comments"} 2.0'
        in (text)
    )
    assert "kibitz_cache_hits_total 1.0" in text and "kibitz_cache_misses_total 1.0" in text
    assert "kibitz_streams_open 0.0" in text
    assert 'kibitz_outbox_rows{status="queued"} 2.0' in text
    assert "process_resident_memory_bytes" in text


def test_a_worker_loads_only_what_its_site_uses(tmp_path: Path) -> None:
    """A SQLite site without Redis or webhooks builds its app without Redis's client, the
    PostgreSQL driver, the HTTP client or Alembic: 20 MB less in every worker."""
    script = (
        "import sys\n"
        "from kibitz.app import app_from_env\n"
        "app_from_env()\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {
        **os.environ,
        "KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite'}",
        "KIBITZ_SECRET_KEY": SECRET,
    }
    env.pop("KIBITZ_REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(out.stdout.split())
    assert {"kibitz", "litestar", "sqlalchemy"} <= loaded  # it did build the app
    assert loaded.isdisjoint({"redis", "asyncpg", "httpx", "alembic", "mako", "pygments"})
