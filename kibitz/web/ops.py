"""What operators and load balancers ask: is this process alive, ready, and how is it doing.

``/healthz`` (in kibitz/app.py): the process answers; no dependency is checked, so a
database outage never has every process restarted at once. ``/readyz``: the database
answers, and Redis too when configured (take the process out of the pool while not).
``/metrics``: Prometheus text, with a bearer token (``metrics_token``) or, without one,
only to requests made on the loopback interface that no proxy relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from typing import Any

import sqlalchemy as sa
from litestar import Request, Response, get

from kibitz.metrics import CONTENT_TYPE, Metrics
from kibitz.web import reader as rd
from kibitz.web.errors import error_response

log = logging.getLogger("kibitz")
CHECK_TIMEOUT = 2.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")
RELAYED = ("x-forwarded-for", "x-real-ip", "forwarded")


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(kb.db.read(lambda c: c.execute(sa.text("SELECT 1"))), CHECK_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # whatever the driver raises, the answer is "not ready"
        log.warning("readyz: the database does not answer: %s", exc)
        checks["database"] = "unreachable"
    if kb.settings.redis_url:
        ok = False
        with contextlib.suppress(TimeoutError):
            ok = await asyncio.wait_for(kb.bus.ping(), CHECK_TIMEOUT)
        checks["redis"] = "ok" if ok else "unreachable"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return Response(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


def _allowed(request: Request[Any, Any, Any]) -> bool:
    token = rd.kibitz(request).settings.metrics_token
    if token:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        return hmac.compare_digest(given.encode(), token.encode())
    host = request.client.host if request.client else ""
    return host in LOOPBACK and not any(h in request.headers for h in RELAYED)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[Any]:
    if not _allowed(request):
        return error_response(
            403, "forbidden", "Metrics need the metrics token (Authorization: Bearer)."
        )
    m: Metrics = request.app.state.metrics
    body = await m.render()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
