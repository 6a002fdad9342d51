"""The ceiling: uvicorn serving kibitz's own response bytes from memory, with no logic.

It answers each request with the status, headers and body kibitz gave to the same request
(captured beforehand), found by exact method and target, else by method and path. It runs
with the arguments ``kibitz serve`` gives uvicorn, so the only difference from kibitz is
kibitz itself:

    python -m bench.ceiling RESPONSES.json --port 8100 --workers 2
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

Canned = tuple[int, list[tuple[bytes, bytes]], bytes]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# uvicorn writes its own Date and connection handling (urllib, which captured them, asked to
# close); kibitz sends no Server header
SKIP_HEADERS = {"date", "server", "connection", "keep-alive", "transfer-encoding"}


def encode(status: int, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
    return {
        "status": status,
        "headers": [[k, v] for k, v in headers if k.lower() not in SKIP_HEADERS],
        "body": base64.b64encode(body).decode(),
    }


def load(path: str) -> tuple[dict[str, Canned], dict[str, Canned]]:
    with open(path) as f:
        data = json.load(f)

    def canned(d: dict[str, Any]) -> Canned:
        headers = [(k.lower().encode(), v.encode()) for k, v in d["headers"]]
        return d["status"], headers, base64.b64decode(d["body"])

    return (
        {k: canned(v) for k, v in data["exact"].items()},
        {k: canned(v) for k, v in data["fallback"].items()},
    )


def app_from_env() -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    exact, fallback = load(os.environ["BENCH_CEILING_RESPONSES"])
    missing: Canned = (404, [(b"content-length", b"0")], b"")

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "GET":
            more = True
            while more:
                more = (await receive()).get("more_body", False)
        path = scope["raw_path"].decode()
        query = scope["query_string"].decode()
        key = f"{scope['method']} {path}"
        status, headers, body = exact.get(f"{key}?{query}" if query else key) or fallback.get(
            key, missing
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("responses")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["BENCH_CEILING_RESPONSES"] = args.responses
    # what kibitz serve passes (kibitz/cli/core.py), with kibitz's default log level and
    # access log (off)
    uvicorn.run(
        "bench.ceiling:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_worker_healthcheck=60,
    )


if __name__ == "__main__":
    main()
