"""Stripe, through the official ``stripe`` library: Checkout for one-time and monthly gifts,
the billing portal for monthly donors, and signed webhooks.

Webhook verification is Stripe's scheme (``Stripe-Signature: t=<unix time>,v1=<hex>``, an
HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's ``whsec_`` secret), checked by the
library; on top of it kibitz refuses a timestamp more than 300 seconds old *or* in the future
(the library only looks back), and an event of the other mode (test events on a live key and
the reverse).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from kibitz import money
from kibitz.payments import (
    CheckoutRequest,
    CheckoutSession,
    Disputed,
    DisputeWon,
    Fact,
    Paid,
    PaymentLinked,
    ProviderError,
    ProviderEvent,
    RecurringEnded,
    RecurringStarted,
    Refunded,
    SessionState,
    WebhookRejected,
)
from kibitz.payments.limits import step, stripe_exponent
from kibitz.settings import Settings

TOLERANCE = 300  # seconds, both ways
META = "kibitz_"


def to_stripe(minor: int, code: str) -> int:
    """Kibitz minor units (ISO 4217) as the integer Stripe's API takes."""
    if minor % step(code):
        shown = money.format_money(step(code), code, exact=True)
        raise ProviderError(f"{code} amounts at Stripe go in steps of {shown}")
    shift = stripe_exponent(code) - money.exponent(code)
    return int(minor * 10**shift) if shift >= 0 else int(minor // 10**-shift)


def from_stripe(amount: int, code: str) -> int:
    shift = money.exponent(code) - stripe_exponent(code)
    return int(amount * 10**shift) if shift >= 0 else int(amount // 10**-shift)


def _at(ts: Any, fallback: datetime) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC) if isinstance(ts, int) else fallback


def _meta(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata") or {}
    return {k[len(META) :]: str(v) for k, v in raw.items() if k.startswith(META) and v}


def _id(value: Any) -> str | None:
    """An expandable field: an id, or an object with one."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


class _HTTPXClient(stripe.HTTPXClient):
    """The library's httpx client, sending the form body as ``content=`` (httpx deprecated
    passing raw text as ``data=``, which the library still does)."""

    def _get_request_args_kwargs(  # type: ignore[no-untyped-def]
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any
    ):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args, kwargs


class StripeProvider:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.live = settings.stripe_mode == "live"

    # -- the API

    def _client(self) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
        http = _HTTPXClient(timeout=20)
        client = stripe.StripeClient(
            self.settings.stripe_secret_key,
            base_addresses={"api": self.settings.stripe_api_base.rstrip("/")},
            http_client=http,
            max_network_retries=2,
        )
        return client, http

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        code = request.currency
        meta = {f"{META}campaign": request.campaign}
        if request.public_name:
            meta[f"{META}public_name"] = request.public_name[:100]
        if request.message:
            meta[f"{META}message"] = request.message[:500]
        price: dict[str, Any] = {
            "currency": code.lower(),
            "unit_amount": to_stripe(request.amount, code),
            "product_data": {"name": request.description[:250]},
        }
        params: dict[str, Any] = {
            "line_items": [{"price_data": price, "quantity": 1}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": meta,
            "locale": request.locale,
        }
        if request.frequency == "monthly":
            price["recurring"] = {"interval": "month"}
            params["mode"] = "subscription"
            params["subscription_data"] = {"metadata": meta, "description": request.description}
        else:
            params["mode"] = "payment"
            params["submit_type"] = "donate"
            params["payment_intent_data"] = {
                "metadata": meta, "description": request.description,
            }  # fmt: skip
        client, http = self._client()
        try:
            session = await client.v1.checkout.sessions.create_async(params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise ProviderError(exc.user_message or str(exc)) from exc
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]
        if not session.url:
            raise ProviderError("Stripe returned a session without a payment page")
        return CheckoutSession(id=session.id, url=session.url)

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        client, http = self._client()
        try:
            portal = await client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise ProviderError(exc.user_message or str(exc)) from exc
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]
        return str(portal.url)

    # -- webhooks

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> ProviderEvent:
        header = headers.get("stripe-signature") or ""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRejected("malformed_event", "The body is not UTF-8.") from None
        try:
            # the library checks the scheme and the HMAC; the time window is checked below,
            # both ways, against our clock
            stripe.WebhookSignature.verify_header(
                text, header, self.settings.stripe_webhook_secret, tolerance=None
            )
        except stripe.SignatureVerificationError:
            raise WebhookRejected(
                "bad_signature", "The Stripe-Signature does not match this body and secret."
            ) from None
        timestamp = _timestamp(header)
        if timestamp < now - TOLERANCE:
            raise WebhookRejected("stale_signature", "The signature is older than 300 seconds.")
        if timestamp > now + TOLERANCE:
            raise WebhookRejected(
                "future_signature", "The signature is dated more than 300 seconds ahead."
            )
        event = self.parse_event(body)
        if event.livemode != self.live:
            mode = "a live" if event.livemode else "a test"
            raise WebhookRejected(
                "wrong_mode",
                f"This is {mode}-mode event and kibitz runs with a "
                f"{'live' if self.live else 'test'}-mode key.",
            )
        return event

    def parse_event(self, body: bytes) -> ProviderEvent:
        try:
            event = json.loads(body)
            obj = event["data"]["object"]
            kind, event_id, live = str(event["type"]), str(event["id"]), event["livemode"]
            created = datetime.fromtimestamp(int(event["created"]), UTC)
            if not isinstance(obj, dict) or not isinstance(live, bool):
                raise TypeError("data.object")
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("malformed_event", f"Not a Stripe event: {exc}") from None
        try:
            facts = tuple(self._facts(kind, obj, created))
        except (KeyError, TypeError, ValueError, money.MoneyError) as exc:
            raise WebhookRejected("malformed_event", f"Unreadable {kind}: {exc}") from None
        return ProviderEvent("stripe", event_id, kind, live, created, facts, body)

    def _facts(self, kind: str, obj: dict[str, Any], created: datetime) -> list[Fact]:
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            return self._session(obj, created)
        if kind == "checkout.session.async_payment_failed":
            return [SessionState(obj["id"], "failed")] if _meta(obj) else []
        if kind == "checkout.session.expired":
            return [SessionState(obj["id"], "expired")] if _meta(obj) else []
        if kind == "invoice.paid":
            return self._invoice(obj, created)
        if kind == "invoice_payment.paid":
            payment = obj.get("payment") or {}
            paid_by = _id(payment.get("payment_intent")) or _id(payment.get("charge"))
            invoice = _id(obj.get("invoice"))
            return [PaymentLinked(paid_by, invoice)] if paid_by and invoice else []
        if kind == "charge.refunded":
            code = money.currency(obj["currency"])
            return [
                Refunded(
                    charge_id=obj["id"], payment_id=_id(obj.get("payment_intent")),
                    refunded_total=from_stripe(int(obj["amount_refunded"]), code),
                    currency=code, occurred_at=created,
                )
            ]  # fmt: skip
        if kind == "charge.dispute.created":
            code = money.currency(obj["currency"])
            return [
                Disputed(
                    dispute_id=obj["id"], charge_id=_id(obj["charge"]) or "",
                    payment_id=_id(obj.get("payment_intent")),
                    amount=from_stripe(int(obj["amount"]), code), currency=code,
                    occurred_at=created,
                )
            ]  # fmt: skip
        if kind == "charge.dispute.closed" and obj.get("status") == "won":
            return [DisputeWon(obj["id"], created)]
        if kind == "customer.subscription.deleted":
            return [RecurringEnded(obj["id"], _at(obj.get("ended_at"), created))]
        return []

    def _session(self, s: dict[str, Any], created: datetime) -> list[Fact]:
        meta = _meta(s)
        if "campaign" not in meta:
            return []  # a payment of the publisher's that kibitz did not start
        details = s.get("customer_details") or {}
        email = details.get("email") or s.get("customer_email")
        status = s.get("payment_status")
        if s.get("mode") == "subscription":
            subscription = _id(s.get("subscription"))
            facts: list[Fact] = [
                SessionState(s["id"], "paid" if status == "paid" else "processing")
            ]
            if subscription:
                code = money.currency(s["currency"])
                facts.append(
                    RecurringStarted(
                        subscription_id=subscription, customer_id=_id(s.get("customer")),
                        campaign=meta["campaign"],
                        amount=from_stripe(int(s["amount_total"]), code), currency=code,
                        occurred_at=created, donor_email=email, donor_name=details.get("name"),
                    )
                )  # fmt: skip
            # the money itself is recorded from invoice.paid, once per month
            return facts
        if status != "paid":
            return [SessionState(s["id"], "processing")] if status == "unpaid" else []
        code = money.currency(s["currency"])
        payment = _id(s.get("payment_intent"))
        return [
            SessionState(s["id"], "paid"),
            Paid(
                ref=f"stripe:payment:{payment or s['id']}", campaign=meta["campaign"],
                amount=from_stripe(int(s["amount_total"]), code), currency=code,
                frequency="one_time", occurred_at=created, donor_email=email,
                donor_name=details.get("name"), public_name=meta.get("public_name"),
                message=meta.get("message"), payment_id=payment,
                customer_id=_id(s.get("customer")), session_id=s["id"],
            ),
        ]  # fmt: skip

    def _invoice(self, inv: dict[str, Any], created: datetime) -> list[Fact]:
        parent = (inv.get("parent") or {}).get("subscription_details") or {}
        details = parent or inv.get("subscription_details") or {}
        subscription = _id(parent.get("subscription")) or _id(inv.get("subscription"))
        meta = _meta(details)
        amount = int(inv.get("amount_paid") or 0)
        if not subscription or amount <= 0:
            return []
        code = money.currency(inv["currency"])
        payment = _id(inv.get("payment_intent"))
        charge = _id(inv.get("charge"))
        for item in (inv.get("payments") or {}).get("data") or []:
            paid_by = item.get("payment") or {}
            payment = payment or _id(paid_by.get("payment_intent"))
            charge = charge or _id(paid_by.get("charge"))
        paid_at = (inv.get("status_transitions") or {}).get("paid_at")
        facts: list[Fact] = [
            Paid(
                ref=f"stripe:invoice:{inv['id']}", campaign=meta.get("campaign"),
                amount=from_stripe(amount, code), currency=code, frequency="monthly",
                occurred_at=_at(paid_at, created), donor_email=inv.get("customer_email"),
                donor_name=inv.get("customer_name"), public_name=meta.get("public_name"),
                message=meta.get("message"), payment_id=payment, charge_id=charge,
                invoice_id=inv["id"], subscription_id=subscription,
                customer_id=_id(inv.get("customer")),
            )
        ]  # fmt: skip
        if payment or charge:
            facts.append(PaymentLinked(payment or charge or "", inv["id"]))
        return facts


def _timestamp(header: str) -> int:
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise WebhookRejected("bad_signature", "The Stripe-Signature has no timestamp.")
