"""Outgoing webhooks, signed the Standard Webhooks way: ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from kibitz.mail import outbox
from kibitz.settings import Settings

if TYPE_CHECKING:
    import httpx

EVENTS = (
    "comment.created", "comment.approved", "comment.deleted", "vote.changed",
    "comment.hidden",  # a published comment was held, rejected or marked spam by moderation
)  # fmt: skip


def secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def emit(
    conn: Connection, settings: Settings, event: str, event_id: str, data: dict[str, Any],
    *, now: datetime,
) -> None:  # fmt: skip
    """Queue the event for every configured URL, in the caller's transaction."""
    if event not in EVENTS:
        raise ValueError(event)
    for url in settings.webhook_urls:
        key = f"webhook:{event}:{event_id}:{url}"
        msg_id = "msg_" + hashlib.sha256(key.encode()).hexdigest()[:24]
        payload = {"url": url, "id": msg_id,
                   "body": {"type": event, "timestamp": now.isoformat(), "data": data}}  # fmt: skip
        outbox.enqueue(conn, "webhook", key, payload, at=now)


async def deliver(client: httpx.AsyncClient, settings: Settings, payload: dict[str, Any]) -> None:
    body = json.dumps(payload["body"], separators=(",", ":")).encode()
    timestamp = int(datetime.now().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": payload["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings.webhook_secret, payload["id"], timestamp, body),
        "user-agent": "kibitz-webhooks",
    }
    response = await client.post(payload["url"], content=body, headers=headers, timeout=15)
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered {response.status_code}")
