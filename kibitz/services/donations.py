"""Donations through a payment provider: opening the payment page, and recording what the
provider's webhooks report, exactly once and in any order.

Each event is stored (``provider_events``, unique per provider and id) in the same
transaction as its effect, so a duplicate or a retry changes nothing, and a failure leaves
neither. Events can come in any order: a payment's donation may arrive from two events
(both carry the payment's unique ``provider_ref``, the second adds nothing), and a refund or
chargeback that arrives before its payment waits ("deferred") until the payment does.
Refunds are reported cumulatively, so only what goes beyond the refunds recorded so far is
added: a late, smaller report adds nothing. A monthly renewal (``invoice.paid``) that names
no campaign waits the same way for the checkout that started its subscription.

An event whose money kibitz cannot record (a payment in another currency than its campaign's,
a refund in another currency than its gift's) is never just logged: it is kept as
``needs_attention`` with the reason, `kibitz check` fails on it and the dashboard lists it,
until a person records what is right by hand and marks it handled.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz import money
from kibitz.context import Kibitz
from kibitz.db.tables import donors, ledger, payment_sessions, provider_events
from kibitz.db.tables import provider_payments as payment_links
from kibitz.db.tables import recurring_gifts as gifts
from kibitz.mail import outbox, receipts
from kibitz.models import Reader
from kibitz.payments import (
    CheckoutRequest,
    CheckoutSession,
    Disputed,
    DisputeWon,
    Fact,
    Paid,
    PaymentLinked,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    RecurringEnded,
    RecurringStarted,
    Refunded,
    SessionState,
    limits,
)
from kibitz.services import campaigns as camp
from kibitz.services import ledger as led
from kibitz.services.addresses import email_key
from kibitz.services.errors import Invalid, NotFound, ServiceError
from kibitz.settings import Settings

log = logging.getLogger("kibitz.donations")
STATUS_RANK = {"open": 0, "processing": 1, "paid": 2, "failed": 2, "expired": 2}
PORTAL_LINK_DAYS = 90


class PaymentUnavailable(ServiceError):
    status = 502


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the donation page


@dataclass(frozen=True)
class DonationForm:
    campaign: str
    amount: str  # as typed, in major units
    frequency: str = "one_time"
    public_name: str = ""
    message: str = ""


@dataclass(frozen=True)
class CheckedDonation:
    campaign: camp.Campaign
    amount: int
    frequency: str
    public_name: str | None
    message: str | None


def bounds(campaign: camp.Campaign) -> tuple[int, int]:
    """The smallest and largest gift the donation page takes: the campaign's, and never
    below what a card payment in its currency can be."""
    return max(campaign.min_amount, limits.minimum(campaign.currency)), campaign.max_amount


def check(
    settings: Settings, campaign: camp.Campaign, form: DonationForm, now: datetime
) -> CheckedDonation:
    """The gift as the reader typed it, amounts read in the site's locale."""
    if not campaign.is_open(now):
        raise Invalid("campaign_closed", "This campaign is not taking gifts now.", "campaign")
    if form.frequency not in ("one_time", "monthly"):
        raise Invalid("invalid_frequency", "Choose a one-time or a monthly gift.", "frequency")
    if form.frequency == "monthly" and campaign.period != "monthly":
        raise Invalid("invalid_frequency", "This campaign takes one-time gifts only.", "frequency")
    code = campaign.currency
    try:
        amount = money.parse_amount(form.amount, code, settings.locale)
    except money.MoneyError as exc:
        raise Invalid("invalid_amount", f"Amount: {exc}.", "amount") from None

    def show(minor: int) -> str:
        return money.format_money(minor, code, settings.locale, settings.money_format, exact=True)

    low, high = bounds(campaign)
    if not low <= amount <= high:
        raise Invalid(
            "amount_out_of_bounds", f"Give between {show(low)} and {show(high)}.", "amount"
        )
    step = limits.step(code)
    if amount % step:
        below = amount - amount % step
        raise Invalid(
            "invalid_amount",
            f"Card payments in {code} go in steps of {show(step)}: give {show(below)} or "
            f"{show(below + step)}.",
            "amount",
        )
    name = " ".join(form.public_name.split())
    if len(name) > 100:
        raise Invalid("invalid_public_name", "A public name has at most 100 characters.", "name")
    message = form.message.strip()
    if len(message) > 300:
        raise Invalid("invalid_message", "A message has at most 300 characters.", "message")
    return CheckedDonation(campaign, amount, form.frequency, name or None, message or None)


async def start_checkout(
    kb: Kibitz, provider: PaymentProvider, form: DonationForm, who: Reader,
    now: datetime | None = None,
) -> CheckoutSession:  # fmt: skip
    """Open the provider's payment page for a checked gift; nothing is recorded as given."""
    now = now or utcnow()
    campaign = await camp.get(kb, form.campaign)
    gift = check(kb.settings, campaign, form, now)
    base = kb.settings.public_url.rstrip("/")
    site = kb.settings.site_name
    request = CheckoutRequest(
        campaign=campaign.slug, amount=gift.amount, currency=campaign.currency,
        frequency=gift.frequency,
        description=f"{'Monthly gift' if gift.frequency == 'monthly' else 'Gift'} to {site}: "
        f"{campaign.name}",
        success_url=f"{base}/donate/thanks?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/donate?{urlencode({'campaign': campaign.slug})}",
        public_name=gift.public_name, message=gift.message,
    )  # fmt: skip
    try:
        session = await provider.create_checkout(request)
    except ProviderError as exc:
        log.warning("checkout for %s failed: %s", campaign.slug, exc)
        raise PaymentUnavailable(
            "payment_unavailable",
            "The payment page could not be opened just now. Nothing was charged; please try "
            "again in a minute.",
        ) from None
    await kb.db.write(
        lambda conn: conn.execute(
            payment_sessions.insert().values(
                provider=provider.name, session_id=session.id, campaign_id=campaign.id,
                amount=gift.amount, currency=campaign.currency, frequency=gift.frequency,
                status="open", ip_hash=who.ip_hash, created_at=now, updated_at=now,
            )
        )
    )  # fmt: skip
    return session


async def session_status(kb: Kibitz, provider: str, session_id: str) -> str | None:
    def read(conn: Connection) -> str | None:
        row = conn.execute(
            sa.select(payment_sessions.c.status).where(
                payment_sessions.c.provider == provider,
                payment_sessions.c.session_id == session_id,
            )
        ).first()
        return str(row.status) if row is not None else None

    return await kb.db.read(read)


# -- webhooks


@dataclass(frozen=True)
class Attention:
    """Money the provider reports that kibitz could not record as it stands: a person must
    look (the event is kept as ``needs_attention`` with this reason)."""

    reason: str


# what carrying out a fact did: changed something (True), nothing to do (False), waits for
# the payment or subscription with this key (str), or needs a person (Attention)
Result = bool | str | Attention


@dataclass
class _Run:
    """What one transaction of event handling touched."""

    kb: Kibitz
    provider: PaymentProvider
    now: datetime
    campaigns: set[str]


def _insert_ignore(conn: Connection, table: sa.Table, key: list[str], **values: Any) -> bool:
    insert: Any = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    result = conn.execute(insert.values(**values).on_conflict_do_nothing(index_elements=key))
    return bool(result.rowcount)


async def handle_event(
    kb: Kibitz, provider: PaymentProvider, event: ProviderEvent, now: datetime | None = None
) -> str:
    """Record one verified event and its effect in one transaction. Returns the outcome:
    applied, ignored, deferred, needs_attention or duplicate."""
    run = _Run(kb, provider, now or utcnow(), set())

    def tx(conn: Connection) -> str:
        fresh = _insert_ignore(
            conn, provider_events, ["provider", "event_id"],
            provider=event.provider, event_id=event.id, type=event.type,
            livemode=event.livemode, created_at=event.created, received_at=run.now,
            outcome="applied",
        )  # fmt: skip
        if not fresh:
            return "duplicate"
        outcome, waits_for, reason = _apply(conn, run, event.facts)
        if outcome != "applied":
            conn.execute(
                sa.update(provider_events)
                .where(
                    provider_events.c.provider == event.provider,
                    provider_events.c.event_id == event.id,
                )
                .values(
                    outcome=outcome, waits_for=waits_for, reason=reason,
                    payload=event.raw.decode("utf-8") if outcome == "deferred" else None,
                )
            )  # fmt: skip
        return outcome

    outcome = await kb.db.write(tx)
    for slug in run.campaigns:
        camp.invalidate(kb, slug)
    if run.campaigns:
        kb.wake_worker()
    level = logging.WARNING if outcome == "needs_attention" else logging.INFO
    log.log(level, "%s event %s (%s): %s", event.provider, event.id, event.type, outcome)
    return outcome


def _apply(
    conn: Connection, run: _Run, facts: tuple[Fact, ...]
) -> tuple[str, str | None, str | None]:
    """Carry out an event's facts: (outcome, what a deferred event waits for, why it needs
    a person)."""
    if not facts:
        return "ignored", None, None
    did = False
    problems: list[str] = []
    for fact in facts:
        result = _fact(conn, run, fact)
        if isinstance(result, Attention):
            problems.append(result.reason)
        elif isinstance(result, str):
            return "deferred", result, None
        else:
            did = did or result
    if problems:
        return "needs_attention", None, "; ".join(problems)
    return ("applied" if did else "ignored"), None, None


def _fact(conn: Connection, run: _Run, fact: Fact) -> Result:
    if isinstance(fact, Paid):
        return _paid(conn, run, fact)
    if isinstance(fact, SessionState):
        return _session_state(conn, run, fact)
    if isinstance(fact, Refunded):
        return _refunded(conn, run, fact)
    if isinstance(fact, Disputed):
        return _disputed(conn, run, fact)
    if isinstance(fact, DisputeWon):
        return _dispute_won(conn, run, fact)
    if isinstance(fact, PaymentLinked):
        linked = _insert_ignore(
            conn, payment_links, ["provider", "payment_id"], provider=run.provider.name,
            payment_id=fact.payment_id, invoice_id=fact.invoice_id, created_at=run.now,
        )  # fmt: skip
        _resolve(conn, run, [fact.payment_id])
        return linked
    if isinstance(fact, RecurringStarted):
        return _recurring_started(conn, run, fact)
    return _recurring_ended(conn, run, fact)


def _campaign_of(conn: Connection, run: _Run, fact: Paid) -> camp.Campaign | None:
    slug = fact.campaign
    if slug is None and fact.subscription_id:
        row = conn.execute(
            sa.select(gifts.c.campaign_id).where(
                gifts.c.provider == run.provider.name,
                gifts.c.subscription_id == fact.subscription_id,
            )
        ).first()
        return camp.load_by_id(conn, row.campaign_id) if row is not None else None
    if slug is None:
        return None
    try:
        return camp.load(conn, slug)
    except NotFound:
        return None


def _paid(conn: Connection, run: _Run, fact: Paid) -> Result:
    campaign = _campaign_of(conn, run, fact)
    if campaign is None:
        if fact.campaign is None and fact.subscription_id:
            # a renewal of a monthly gift whose checkout has not been reported yet
            return fact.subscription_id
        log.info("payment %s names no campaign kibitz knows; not recorded", fact.ref)
        return False
    entry = led.NewEntry(
        kind="donation", amount=fact.amount, currency=fact.currency,
        occurred_at=fact.occurred_at, source=run.provider.name, method="card",
        frequency=fact.frequency, donor_email=fact.donor_email, donor_name=fact.donor_name,
        public_name=fact.public_name, message=fact.message, provider_ref=fact.ref,
        provider_payment_id=fact.payment_id, provider_charge_id=fact.charge_id,
        provider_invoice_id=fact.invoice_id, provider_subscription_id=fact.subscription_id,
        provider_customer_id=fact.customer_id,
    )  # fmt: skip
    tz = camp.zone(run.kb.settings.time_zone)
    try:
        entry_id = led.append(conn, campaign, entry, tz=tz, now=run.now)
    except ServiceError as exc:
        shown = money.format_money(fact.amount, fact.currency, exact=True)
        return Attention(
            f"payment {fact.ref} of {shown} ({fact.currency}) for campaign {campaign.slug} "
            f"was not recorded: {exc.message} Record it by hand (kibitz ledger add), then mark "
            "this event handled."
        )
    if entry_id is None:
        return False  # recorded before, from another event
    run.campaigns.add(campaign.slug)
    if fact.donor_email:
        _queue_receipt(conn, run, entry_id, campaign, fact)
    _resolve(conn, run, [k for k in (fact.payment_id, fact.charge_id) if k])
    if fact.invoice_id:
        linked = conn.execute(
            sa.select(payment_links.c.payment_id).where(
                payment_links.c.invoice_id == fact.invoice_id
            )
        ).scalars()
        _resolve(conn, run, list(linked))
    return True


def portal_token(kb: Kibitz, customer_id: str, now: datetime) -> str:
    expires = int((now + timedelta(days=PORTAL_LINK_DAYS)).timestamp())
    return kb.signer.sign("donor-portal", f"{customer_id}:{expires}")


def check_portal_token(kb: Kibitz, token: str, now: float | None = None) -> str:
    """The provider's customer id a management link is for."""
    value = kb.signer.unsign("donor-portal", token)
    customer, _, expires = (value or "").rpartition(":")
    if not customer or not expires.isdigit() or int(expires) < (now or time.time()):
        raise Invalid(
            "invalid_token",
            "This link is not valid or has expired. Ask for a new one on the donation page.",
            "token",
        )
    return customer


def manage_url(kb: Kibitz, customer_id: str, now: datetime) -> str:
    base = kb.settings.public_url.rstrip("/")
    return f"{base}/donate/manage?{urlencode({'token': portal_token(kb, customer_id, now)})}"


def _queue_receipt(
    conn: Connection, run: _Run, entry_id: int, campaign: camp.Campaign, fact: Paid
) -> None:
    assert fact.donor_email is not None
    manage = None
    if fact.frequency == "monthly" and fact.customer_id:
        manage = manage_url(run.kb, fact.customer_id, run.now)
    mail = receipts.receipt(
        run.kb, email=fact.donor_email, name=fact.donor_name, amount=fact.amount,
        currency=fact.currency, campaign=campaign.name, frequency=fact.frequency,
        occurred_at=fact.occurred_at, reference=f"{campaign.slug}-{entry_id}", manage_url=manage,
    )  # fmt: skip
    outbox.enqueue(conn, "mail", f"receipt:{entry_id}", mail, at=run.now)


def _session_state(conn: Connection, run: _Run, fact: SessionState) -> bool:
    row = conn.execute(
        sa.select(payment_sessions.c.id, payment_sessions.c.status).where(
            payment_sessions.c.provider == run.provider.name,
            payment_sessions.c.session_id == fact.session_id,
        )
    ).first()
    # a later event never moves a session back (paid stays paid, failed stays failed)
    if row is None or STATUS_RANK[fact.status] <= STATUS_RANK[row.status]:
        return False
    conn.execute(
        sa.update(payment_sessions)
        .where(payment_sessions.c.id == row.id)
        .values(status=fact.status, updated_at=run.now)
    )
    return True


def _donation_for(conn: Connection, run: _Run, payment: str | None, charge: str | None) -> Any:
    found = led.by_provider(conn, payment=payment, charge=charge)
    if found is not None:
        return found
    for paid_by in (payment, charge):
        if not paid_by:
            continue
        invoice = conn.execute(
            sa.select(payment_links.c.invoice_id).where(
                payment_links.c.provider == run.provider.name,
                payment_links.c.payment_id == paid_by,
            )
        ).scalar()
        if invoice:
            row = conn.execute(
                sa.select(ledger.c.id).where(
                    ledger.c.provider_invoice_id == invoice, ledger.c.kind == "donation"
                )
            ).scalar()
            if row is not None:
                return led.get(conn, int(row))
    return None


def _reverse(
    conn: Connection, run: _Run, donation: led.Entry, kind: str, amount: int, ref: str,
    occurred_at: datetime, currency: str,
) -> bool | Attention:  # fmt: skip
    if currency != donation.currency:
        shown = money.format_money(amount, currency, exact=True)
        return Attention(
            f"{kind} {ref} of {shown} ({currency}) reverses donation #{donation.id}, which is in "
            f"{donation.currency}: not recorded. Record the {kind} by hand in "
            f"{donation.currency} (kibitz ledger add --kind {kind} --reverses {donation.id}), "
            "then mark this event handled."
        )
    left = donation.amount - led.reversed_so_far(conn, donation.id)
    amount = min(amount, left)
    if amount <= 0:
        return False
    campaign = camp.load_by_id(conn, donation.campaign_id)
    entry = led.NewEntry(
        kind=kind, amount=amount, currency=currency, occurred_at=occurred_at,
        source=run.provider.name, method=donation.method, frequency=donation.frequency,
        reverses_id=donation.id, provider_ref=ref,
        provider_payment_id=donation.provider_payment_id,
        provider_charge_id=donation.provider_charge_id,
        provider_subscription_id=donation.provider_subscription_id,
        provider_customer_id=donation.provider_customer_id,
    )  # fmt: skip
    tz = camp.zone(run.kb.settings.time_zone)
    added = led.append(conn, campaign, entry, tz=tz, now=run.now)
    if added is not None:
        run.campaigns.add(campaign.slug)
    return added is not None


def _refunded(conn: Connection, run: _Run, fact: Refunded) -> Result:
    donation = _donation_for(conn, run, fact.payment_id, fact.charge_id)
    if donation is None:
        return fact.payment_id or fact.charge_id
    more = fact.refunded_total - led.reversed_so_far(conn, donation.id, ("refund",))
    ref = f"{run.provider.name}:refund:{fact.charge_id}:{fact.refunded_total}"
    return _reverse(conn, run, donation, "refund", more, ref, fact.occurred_at, fact.currency)


def _disputed(conn: Connection, run: _Run, fact: Disputed) -> Result:
    donation = _donation_for(conn, run, fact.payment_id, fact.charge_id)
    if donation is None:
        return fact.payment_id or fact.charge_id
    ref = f"{run.provider.name}:dispute:{fact.dispute_id}"
    done = _reverse(
        conn, run, donation, "chargeback", fact.amount, ref, fact.occurred_at, fact.currency
    )
    _resolve(conn, run, [fact.dispute_id])
    return done


def _dispute_won(conn: Connection, run: _Run, fact: DisputeWon) -> bool | str:
    chargeback = led.by_ref(conn, f"{run.provider.name}:dispute:{fact.dispute_id}")
    if chargeback is None:
        return fact.dispute_id
    campaign = camp.load_by_id(conn, chargeback.campaign_id)
    entry = led.NewEntry(
        kind="adjustment", amount=-chargeback.amount, currency=chargeback.currency,
        occurred_at=fact.occurred_at, counts_at=chargeback.counts_at,
        source=run.provider.name, fx_rate=chargeback.fx_rate,
        provider_ref=f"{run.provider.name}:dispute-won:{fact.dispute_id}",
        provider_payment_id=chargeback.provider_payment_id,
        provider_charge_id=chargeback.provider_charge_id,
        note=f"dispute {fact.dispute_id} won: the chargeback is returned",
    )  # fmt: skip
    tz = camp.zone(run.kb.settings.time_zone)
    added = led.append(conn, campaign, entry, tz=tz, now=run.now)
    if added is not None:
        run.campaigns.add(campaign.slug)
    return added is not None


def _recurring_started(conn: Connection, run: _Run, fact: RecurringStarted) -> bool:
    try:
        campaign = camp.load(conn, fact.campaign)
    except NotFound:
        return False
    donor = led.donor_id(conn, fact.donor_email, fact.donor_name, run.now)
    added = _insert_ignore(
        conn, gifts, ["provider", "subscription_id"], provider=run.provider.name,
        subscription_id=fact.subscription_id, customer_id=fact.customer_id,
        campaign_id=campaign.id, donor_id=donor, amount=fact.amount, currency=fact.currency,
        status="active", started_at=fact.occurred_at, updated_at=run.now,
    )  # fmt: skip
    _resolve(conn, run, [fact.subscription_id])
    return added


def _recurring_ended(conn: Connection, run: _Run, fact: RecurringEnded) -> bool | str:
    changed = conn.execute(
        sa.update(gifts)
        .where(
            gifts.c.provider == run.provider.name, gifts.c.subscription_id == fact.subscription_id
        )
        .values(status="ended", ended_at=fact.occurred_at, updated_at=run.now)
    ).rowcount
    return True if changed else fact.subscription_id


def _resolve(conn: Connection, run: _Run, keys: list[str]) -> None:
    """Take up the deferred events that waited for one of ``keys``."""
    if not keys:
        return
    waiting = conn.execute(
        sa.select(provider_events.c.id, provider_events.c.payload)
        .where(
            provider_events.c.provider == run.provider.name,
            provider_events.c.outcome == "deferred",
            provider_events.c.waits_for.in_(keys),
        )
        .order_by(provider_events.c.created_at, provider_events.c.id)
    ).all()
    for row in waiting:
        event = run.provider.parse_event(row.payload.encode("utf-8"))
        outcome, waits_for, reason = _apply(conn, run, event.facts)
        if outcome == "deferred":
            conn.execute(
                sa.update(provider_events)
                .where(provider_events.c.id == row.id)
                .values(waits_for=waits_for)
            )
            continue
        conn.execute(
            sa.update(provider_events)
            .where(provider_events.c.id == row.id)
            .values(
                outcome="needs_attention" if reason else "resolved", reason=reason,
                waits_for=None, payload=None,
            )
        )  # fmt: skip


def unmatched(conn: Connection, older_than: datetime) -> list[tuple[str, str, datetime]]:
    """Deferred events still waiting (event id, type, received); `kibitz check` lists them."""
    rows = conn.execute(
        sa.select(
            provider_events.c.event_id, provider_events.c.type, provider_events.c.received_at
        ).where(provider_events.c.outcome == "deferred", provider_events.c.received_at < older_than)
    )
    return [(r.event_id, r.type, r.received_at) for r in rows]


@dataclass(frozen=True)
class NeedsAttention:
    event_id: str
    type: str
    received_at: datetime
    reason: str


def needing_attention(conn: Connection) -> list[NeedsAttention]:
    """Events whose money kibitz could not record, oldest first; `kibitz check` fails while
    there are any."""
    rows = conn.execute(
        sa.select(
            provider_events.c.event_id, provider_events.c.type, provider_events.c.received_at,
            provider_events.c.reason,
        )
        .where(provider_events.c.outcome == "needs_attention")
        .order_by(provider_events.c.received_at, provider_events.c.id)
    )  # fmt: skip
    return [NeedsAttention(r.event_id, r.type, r.received_at, r.reason or "") for r in rows]


def mark_handled(conn: Connection, event_id: str) -> NeedsAttention:
    """A person recorded what the event needed by hand: it no longer counts as open."""
    found = [e for e in needing_attention(conn) if e.event_id == event_id]
    if not found:
        raise NotFound("no_such_event", f"No event {event_id!r} is waiting for a person.", "event")
    conn.execute(
        sa.update(provider_events)
        .where(
            provider_events.c.event_id == event_id,
            provider_events.c.outcome == "needs_attention",
        )
        .values(outcome="handled")
    )
    return found[0]


# -- monthly donors


async def portal_redirect(
    kb: Kibitz, provider: PaymentProvider, token: str, now: float | None = None
) -> str:
    customer = check_portal_token(kb, token, now)
    base = kb.settings.public_url.rstrip("/")
    try:
        return await provider.portal_url(customer, f"{base}/donate")
    except ProviderError as exc:
        log.warning("billing portal failed: %s", exc)
        raise PaymentUnavailable(
            "payment_unavailable", "Your gift's page could not be opened just now; please retry."
        ) from None


async def send_manage_links(kb: Kibitz, email: str, now: datetime | None = None) -> bool:
    """Mail the management links of an address's active monthly gifts (if it has any)."""
    now = now or utcnow()

    def tx(conn: Connection) -> bool:
        rows = conn.execute(
            sa.select(gifts.c.customer_id, gifts.c.amount, gifts.c.currency)
            .select_from(gifts.join(donors, donors.c.id == gifts.c.donor_id))
            .where(
                donors.c.email_key == email_key(email),
                gifts.c.status == "active",
                gifts.c.customer_id.is_not(None),
            )
        ).all()
        if not rows:
            return False
        s = kb.settings
        links = [
            (
                f"{money.format_money(r.amount, r.currency, s.locale, s.money_format, exact=True)} "
                "a month",
                manage_url(kb, r.customer_id, now),
            )
            for r in rows
        ]
        mail = receipts.manage_links(kb, email=email.strip(), links=links)
        outbox.enqueue(conn, "mail", f"donor-links:{email_key(email)}:{now.timestamp()}", mail,
                       at=now)  # fmt: skip
        return True

    sent = await kb.db.write(tx)
    if sent:
        kb.wake_worker()
    return sent
