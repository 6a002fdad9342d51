"""A small stand-in for Stripe's API on loopback, for the calls kibitz makes (Checkout
Sessions, billing portal sessions). The real ``stripe`` library talks to it over HTTP through
``KIBITZ_STRIPE_API_BASE``; it answers as Stripe's API does and remembers what it was asked.
This is the only fake in the suite: Stripe itself cannot be reached from here."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.stripe_events import KEY

# what Stripe's API refuses in a price (docs.stripe.com/currencies), in Stripe's own units
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "huf": 17500, "czk": 1500}


def price_problem(body: dict[str, Any]) -> str | None:
    """Why Stripe would refuse the session's price, as its API says it."""
    for item in (body.get("line_items") or {}).values():
        price = item.get("price_data") or {}
        currency, amount = price.get("currency", ""), int(price.get("unit_amount") or 0)
        if currency in THREE_DECIMAL and amount % 10:
            return (f"Invalid amount: {currency.upper()} amounts must be rounded to the "
                    "nearest ten (the last digit must be 0).")  # fmt: skip
        if amount < MINIMUM_CHARGE.get(currency, 1):
            return "Amount must be at least the minimum charge amount for the currency."
    return None


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price_data][currency]=usd``) back to a tree."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


@dataclass
class StandIn:
    url: str = ""
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_with: tuple[int, dict[str, Any]] | None = None
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [body for method, p, body in self.requests if p == path]

    def answer(self, method: str, path: str, headers: Any, raw: str) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {KEY}":
            return 401, {"error": {"type": "invalid_request_error",
                                   "message": "Invalid API Key provided"}}  # fmt: skip
        body = unflatten(parse_qsl(raw, keep_blank_values=True))
        self.requests.append((method, path, body))
        if self.fail_with is not None:
            return self.fail_with
        n = next(self._ids)
        if method == "POST" and path == "/v1/checkout/sessions":
            problem = price_problem(body)
            if problem:
                param = "line_items[0][price_data][unit_amount]"
                return 400, {"error": {"type": "invalid_request_error", "message": problem,
                                       "param": param}}  # fmt: skip
            return 200, {
                "id": f"cs_test_{n}", "object": "checkout.session", "mode": body.get("mode"),
                "status": "open", "payment_status": "unpaid", "livemode": False,
                "url": f"https://checkout.stripe.com/c/pay/cs_test_{n}",
                "metadata": body.get("metadata", {}),
            }  # fmt: skip
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return 200, {
                "id": f"bps_{n}", "object": "billing_portal.session", "livemode": False,
                "customer": body.get("customer"), "return_url": body.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{n}",
            }  # fmt: skip
        unknown = f"Unrecognized request URL ({method}: {path})"
        return 404, {"error": {"type": "invalid_request_error", "message": unknown}}


def start() -> tuple[StandIn, ThreadingHTTPServer]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else self.path.partition("?")[2]
            status, payload = state.answer(self.command, self.path.split("?")[0], self.headers, raw)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Request-Id", f"req_{len(state.requests)}")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    return state, server
