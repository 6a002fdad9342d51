"""Payment providers, one adapter each behind ``PaymentProvider``.

An adapter does two things: it opens a hosted payment page for a donation, and it turns the
provider's signed webhook events into *facts* (money arrived, money went back, a monthly gift
started or ended). What the facts do to the ledger is decided in ``kibitz.services.donations``,
the same for every provider. Nothing is ever recorded from the browser's return to the site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kibitz.settings import Settings


class ProviderError(Exception):
    """The provider could not be reached or refused the request."""


class WebhookRejected(Exception):
    """A webhook that is not authentic, not current or not meant for this site."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckoutRequest:
    campaign: str
    amount: int  # minor units of `currency` (ISO 4217)
    currency: str
    frequency: str  # one_time | monthly
    description: str
    success_url: str
    cancel_url: str
    public_name: str | None = None
    message: str | None = None
    locale: str = "auto"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


# -- facts


@dataclass(frozen=True)
class Paid:
    """Money arrived for a donation (a one-time payment, or one month of a monthly gift)."""

    ref: str  # unique per payment at the provider
    campaign: str | None  # slug; None when only the monthly gift knows it
    amount: int
    currency: str
    frequency: str
    occurred_at: datetime
    donor_email: str | None = None
    donor_name: str | None = None
    public_name: str | None = None
    message: str | None = None
    payment_id: str | None = None
    charge_id: str | None = None
    invoice_id: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class SessionState:
    session_id: str
    status: str  # processing | paid | failed | expired


@dataclass(frozen=True)
class Refunded:
    """A charge's refunds now add up to ``refunded_total`` (cumulative, as providers report)."""

    charge_id: str
    payment_id: str | None
    refunded_total: int
    currency: str
    occurred_at: datetime


@dataclass(frozen=True)
class Disputed:
    dispute_id: str
    charge_id: str
    payment_id: str | None
    amount: int
    currency: str
    occurred_at: datetime


@dataclass(frozen=True)
class DisputeWon:
    dispute_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class PaymentLinked:
    """A payment paid an invoice (how a monthly gift's charge is tied to its month)."""

    payment_id: str
    invoice_id: str


@dataclass(frozen=True)
class RecurringStarted:
    subscription_id: str
    customer_id: str | None
    campaign: str
    amount: int
    currency: str
    occurred_at: datetime
    donor_email: str | None = None
    donor_name: str | None = None


@dataclass(frozen=True)
class RecurringEnded:
    subscription_id: str
    occurred_at: datetime


Fact = (
    Paid | SessionState | Refunded | Disputed | DisputeWon | PaymentLinked | RecurringStarted
    | RecurringEnded
)  # fmt: skip


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    id: str
    type: str
    livemode: bool
    created: datetime
    facts: tuple[Fact, ...]
    # the raw event, kept only while a reversal waits for its payment
    raw: bytes = b""


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    async def portal_url(self, customer_id: str, return_url: str) -> str: ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], now: float) -> ProviderEvent:
        """Verify and read one webhook; raises WebhookRejected."""
        ...

    def parse_event(self, body: bytes) -> ProviderEvent:
        """Read an event verified before (a deferred one, taken up again)."""
        ...


def provider_for(settings: Settings) -> PaymentProvider | None:
    """The configured provider, or None when no payments are set up."""
    if not settings.stripe_secret_key:
        return None
    from kibitz.payments.stripe_provider import StripeProvider

    return StripeProvider(settings)
