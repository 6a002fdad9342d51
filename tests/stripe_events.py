"""Stripe events as Stripe sends them, signed as Stripe signs them (no Stripe code involved):
``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>``."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import httpx

SECRET = "whsec_kibitz_test_secret"
KEY = "sk_test_kibitz"
STRIPE = {"stripe_secret_key": KEY, "stripe_webhook_secret": SECRET}
_ids = itertools.count(1)
CREATED = 1623758400  # 2021-06-15 12:00 UTC


def sign(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(kind: str, obj: dict[str, Any], *, livemode: bool = False,
          created: int = CREATED, id: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "id": id or f"evt_test_{next(_ids)}", "object": "event", "api_version": "2026-10-28",
        "created": created, "livemode": livemode, "type": kind, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "data": {"object": obj},
    }  # fmt: skip


def meta(campaign: str | None = "support", **more: str) -> dict[str, str]:
    out = {"kibitz_campaign": campaign} if campaign else {}
    return {**out, **{f"kibitz_{k}": v for k, v in more.items()}}


def session(
    id: str = "cs_test_1", *, mode: str = "payment", paid: bool = True, amount: int = 2500,
    currency: str = "usd", payment_intent: str | None = "pi_1", email: str = "ada@example.org",
    name: str = "Ada Lovelace", metadata: dict[str, str] | None = None,
    subscription: str | None = None, customer: str | None = "cus_1",
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": id, "object": "checkout.session", "mode": mode, "status": "complete",
        "payment_status": "paid" if paid else "unpaid", "amount_total": amount,
        "currency": currency, "customer": customer,
        "customer_details": {"email": email, "name": name},
        "payment_intent": payment_intent if mode == "payment" else None,
        "subscription": subscription, "invoice": None,
        "metadata": meta() if metadata is None else metadata, "livemode": False,
    }  # fmt: skip


def invoice(
    id: str = "in_1", *, subscription: str = "sub_1", amount: int = 1000, currency: str = "usd",
    payment_intent: str | None = None, metadata: dict[str, str] | None = None,
    email: str = "grace@example.org", customer: str = "cus_9", paid_at: int = CREATED,
) -> dict[str, Any]:  # fmt: skip
    """An invoice in the shape of API versions since 2025 (subscription under `parent`)."""
    obj: dict[str, Any] = {
        "id": id, "object": "invoice", "amount_paid": amount, "currency": currency,
        "customer": customer, "customer_email": email, "customer_name": "Grace Hopper",
        "billing_reason": "subscription_cycle", "status": "paid",
        "status_transitions": {"paid_at": paid_at},
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": subscription, "metadata": meta() if metadata is None else metadata}},
    }  # fmt: skip
    if payment_intent:
        paid_by = {"type": "payment_intent", "payment_intent": payment_intent}
        obj["payments"] = {"object": "list", "data": [{"object": "invoice_payment",
                                                       "payment": paid_by}]}  # fmt: skip
    return obj


def invoice_payment(invoice: str, payment_intent: str) -> dict[str, Any]:
    return {"id": f"inpay_{invoice}", "object": "invoice_payment", "invoice": invoice,
            "status": "paid", "payment": {"type": "payment_intent",
                                          "payment_intent": payment_intent}}  # fmt: skip


def charge(id: str = "ch_1", *, payment_intent: str | None = "pi_1", refunded: int = 0,
           amount: int = 2500, currency: str = "usd") -> dict[str, Any]:  # fmt: skip
    return {"id": id, "object": "charge", "amount": amount, "amount_refunded": refunded,
            "currency": currency, "payment_intent": payment_intent,
            "refunded": refunded == amount, "status": "succeeded"}  # fmt: skip


def dispute(id: str = "dp_1", *, charge: str = "ch_1", payment_intent: str | None = "pi_1",
            amount: int = 2500, status: str = "needs_response") -> dict[str, Any]:  # fmt: skip
    return {"id": id, "object": "dispute", "amount": amount, "currency": "usd",
            "charge": charge, "payment_intent": payment_intent, "status": status,
            "reason": "fraudulent"}  # fmt: skip


def subscription(id: str = "sub_1") -> dict[str, Any]:
    return {"id": id, "object": "subscription", "status": "canceled", "ended_at": CREATED}


async def deliver(
    client: httpx.AsyncClient, payload: dict[str, Any] | bytes, *, secret: str = SECRET,
    at: int | None = None, header: str | None = None, expect: int | None = 200,
) -> httpx.Response:  # fmt: skip
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": header if header is not None else sign(body, secret, at),
    }
    response = await client.post("/webhooks/stripe", content=body, headers=headers)
    if expect is not None:
        assert response.status_code == expect, response.text
    return response
