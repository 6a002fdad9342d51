"""Fulfilment from Stripe's webhooks: signatures checked as Stripe means them (tampered,
stale, future, wrong secret), the mode checked, each event recorded once with its effect,
and every order of arrival ending in the same ledger. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz.db.tables import outbox, payment_sessions, provider_events, recurring_gifts
from kibitz.services import audit, bookkeeping
from kibitz.services import ledger as led
from kibitz.services.errors import NotFound
from tests import stripe_events as se
from tests.funding_factories import make_campaign


@pytest.fixture
async def stripe_client(make_client: Any) -> Any:
    client = await make_client(site_name="SouthFront", **se.STRIPE)
    await make_campaign(client.kb)
    return client


async def raised(client: Any, period: str = "2021-06") -> int:
    response = await client.get("/api/v1/funding/support", params={"period": period})
    assert response.status_code == 200, response.text
    value: int = response.json()["raised"]["amount"]
    return value


async def entries(client: Any) -> list[led.Entry]:
    return await client.kb.db.read(lambda conn: led.entries(conn))


async def count(client: Any, table: sa.Table) -> int:
    return await client.kb.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    )


async def test_a_paid_checkout_records_the_gift_and_queues_a_receipt(stripe_client: Any) -> None:
    payload = se.event("checkout.session.completed", se.session(
        metadata=se.meta(public_name="Ada", message="For the reporters")))  # fmt: skip
    response = await se.deliver(stripe_client, payload)
    assert response.json() == {"received": payload["id"], "outcome": "applied"}
    assert await raised(stripe_client) == 2500
    [gift] = await entries(stripe_client)
    assert (gift.kind, gift.source, gift.provider_payment_id, gift.donor_email) == (
        "donation", "stripe", "pi_1", "ada@example.org")  # fmt: skip
    assert (gift.public_name, gift.message, gift.frequency) == (
        "Ada", "For the reporters", "one_time")  # fmt: skip
    mails = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(outbox.c.payload)).scalars().all()
    )
    [mail] = [json.loads(m) for m in mails]
    assert mail["to"] == "ada@example.org" and "receipt" in mail["subject"]
    assert "25.00 $" in mail["text"] and "Dear Ada Lovelace" in mail["text"]
    assert "/donate/manage" not in mail["text"]  # one-time gifts have nothing to manage


async def test_a_tampered_body_is_refused_and_changes_nothing(stripe_client: Any) -> None:
    body = json.dumps(se.event("checkout.session.completed", se.session())).encode()
    header = se.sign(body)
    tampered = body.replace(b'"amount_total": 2500', b'"amount_total": 250000')
    response = await se.deliver(stripe_client, tampered, header=header, expect=400)
    assert response.json()["error"]["code"] == "bad_signature"
    assert await entries(stripe_client) == []
    assert await count(stripe_client, provider_events) == 0


async def test_a_stale_signature_is_refused_and_a_recent_one_taken(stripe_client: Any) -> None:
    now = int(time.time())
    stale = await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()),
                             at=now - 320, expect=400)  # fmt: skip
    assert stale.json()["error"]["code"] == "stale_signature"
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()),
                     at=now - 290)  # fmt: skip
    assert await raised(stripe_client) == 2500


async def test_a_signature_from_the_future_is_refused(stripe_client: Any) -> None:
    response = await se.deliver(
        stripe_client, se.event("checkout.session.completed", se.session()),
        at=int(time.time()) + 320, expect=400,
    )  # fmt: skip
    assert response.json()["error"]["code"] == "future_signature"
    assert await entries(stripe_client) == []


@pytest.mark.parametrize(
    "header",
    [None, "", "t=123", "v1=abc", "t=notanumber,v1=abc", "t=1,v0=abc"],
)
async def test_a_wrong_secret_or_a_broken_header_is_refused(
    stripe_client: Any, header: str | None
) -> None:
    payload = se.event("checkout.session.completed", se.session())
    if header is None:
        response = await se.deliver(stripe_client, payload, secret="whsec_someone_else",
                                    expect=400)  # fmt: skip
    else:
        response = await se.deliver(stripe_client, payload, header=header, expect=400)
    assert response.json()["error"]["code"] == "bad_signature"
    assert await entries(stripe_client) == []


async def test_one_of_several_signatures_may_match_as_during_secret_rotation(
    stripe_client: Any,
) -> None:
    body = json.dumps(se.event("checkout.session.completed", se.session())).encode()
    old = se.sign(body, "whsec_old_secret").split(",")[1]
    header = f"{se.sign(body)},{old}"
    await se.deliver(stripe_client, body, header=header)
    assert await raised(stripe_client) == 2500


async def test_events_of_the_other_mode_are_refused(make_client: Any) -> None:
    test_site = await make_client(**se.STRIPE)
    await make_campaign(test_site.kb)
    live_event = se.event("checkout.session.completed", se.session(), livemode=True)
    refused = await se.deliver(test_site, live_event, expect=400)
    assert refused.json()["error"]["code"] == "wrong_mode"
    live_site = await make_client(kb=None, stripe_secret_key="sk_live_kibitz",
                                  stripe_webhook_secret=se.SECRET)  # fmt: skip
    test_event = se.event("checkout.session.completed", se.session())
    assert (await se.deliver(live_site, test_event, expect=400)).json()["error"]["code"] == (
        "wrong_mode")  # fmt: skip
    assert await entries(test_site) == []


async def test_a_duplicate_event_changes_nothing(stripe_client: Any) -> None:
    payload = se.event("checkout.session.completed", se.session())
    await se.deliver(stripe_client, payload)
    again = await se.deliver(stripe_client, payload)
    assert again.json()["outcome"] == "duplicate"
    # the same payment reported by another event (async success after completion) neither
    other = se.event("checkout.session.async_payment_succeeded", se.session())
    assert (await se.deliver(stripe_client, other)).json()["outcome"] == "ignored"
    assert len(await entries(stripe_client)) == 1 and await raised(stripe_client) == 2500
    assert await count(stripe_client, outbox) == 1  # one receipt


async def test_a_refund_before_its_payment_waits_for_it(stripe_client: Any) -> None:
    refund = se.event("charge.refunded", se.charge(refunded=2500))
    assert (await se.deliver(stripe_client, refund)).json()["outcome"] == "deferred"
    assert await entries(stripe_client) == []
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    assert await raised(stripe_client) == 0
    kinds = sorted(e.kind for e in await entries(stripe_client))
    assert kinds == ["donation", "refund"]
    outcomes = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(provider_events.c.outcome)).scalars().all()
    )
    assert sorted(outcomes) == ["applied", "resolved"]


@pytest.mark.parametrize("order", [(1000, 2500), (2500, 1000), (1000, 1000, 2500)])
async def test_partial_refunds_end_at_the_latest_total_in_any_order(
    stripe_client: Any, order: tuple[int, ...]
) -> None:
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    for total in order:
        await se.deliver(stripe_client, se.event("charge.refunded", se.charge(refunded=total)))
    assert await raised(stripe_client) == 0
    refunds = [e.amount for e in await entries(stripe_client) if e.kind == "refund"]
    assert sum(refunds) == -2500


async def test_a_chargeback_after_a_partial_refund_takes_only_what_is_left(
    stripe_client: Any,
) -> None:
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    await se.deliver(stripe_client, se.event("charge.refunded", se.charge(refunded=1000)))
    await se.deliver(stripe_client, se.event("charge.dispute.created", se.dispute()))
    assert await raised(stripe_client) == 0
    kinds = {e.kind: e.amount for e in await entries(stripe_client)}
    assert kinds == {"donation": 2500, "refund": -1000, "chargeback": -1500}
    # the publisher wins the dispute: what the chargeback took comes back, in June
    await se.deliver(stripe_client, se.event("charge.dispute.closed", se.dispute(status="won")))
    assert await raised(stripe_client) == 1500


async def test_a_dispute_before_its_payment_waits_for_it(stripe_client: Any) -> None:
    won = se.event("charge.dispute.closed", se.dispute(status="won"), created=se.CREATED + 9)
    assert (await se.deliver(stripe_client, won)).json()["outcome"] == "deferred"
    await se.deliver(stripe_client, se.event("charge.dispute.created", se.dispute()))
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    assert await raised(stripe_client) == 2500
    assert sorted(e.kind for e in await entries(stripe_client)) == [
        "adjustment", "chargeback", "donation"]  # fmt: skip


async def test_a_monthly_gift_counts_once_a_month_from_invoice_paid(stripe_client: Any) -> None:
    started = se.session("cs_sub", mode="subscription", amount=1000, subscription="sub_1",
                         customer="cus_9", email="grace@example.org")  # fmt: skip
    first = se.invoice("in_1", payment_intent="pi_in_1")
    # Stripe may send the invoice before the session: same result either way
    await se.deliver(stripe_client, se.event("invoice.paid", first))
    await se.deliver(stripe_client, se.event("checkout.session.completed", started))
    await se.deliver(stripe_client, se.event("invoice.paid", first))
    july = se.invoice("in_2", paid_at=se.CREATED + 31 * 86400)
    await se.deliver(stripe_client, se.event("invoice.paid", july))
    assert await raised(stripe_client) == 1000 and await raised(stripe_client, "2021-07") == 1000
    gifts = [e for e in await entries(stripe_client) if e.kind == "donation"]
    assert [(g.frequency, g.provider_subscription_id) for g in gifts] == [
        ("monthly", "sub_1"), ("monthly", "sub_1")]  # fmt: skip
    status = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(recurring_gifts.c.status)).scalar_one()
    )
    assert status == "active"
    mails = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(outbox.c.payload)).scalars().all()
    )
    assert len(mails) == 2 and all("/donate/manage?token=" in json.loads(m)["text"]
                                   for m in mails)  # fmt: skip
    await se.deliver(stripe_client, se.event("customer.subscription.deleted", se.subscription()))
    status = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(recurring_gifts.c.status)).scalar_one()
    )
    assert status == "ended"


async def test_a_refund_of_a_monthly_charge_finds_its_month_through_the_invoice_payment(
    stripe_client: Any,
) -> None:
    # newer API versions report the invoice's payment in a separate event
    await se.deliver(stripe_client, se.event("charge.refunded", se.charge(
        "ch_9", payment_intent="pi_9", refunded=1000, amount=1000)))  # fmt: skip
    await se.deliver(stripe_client, se.event("invoice.paid", se.invoice("in_9")))
    assert await raised(stripe_client) == 1000
    await se.deliver(stripe_client, se.event("invoice_payment.paid",
                                             se.invoice_payment("in_9", "pi_9")))  # fmt: skip
    assert await raised(stripe_client) == 0


async def test_a_delayed_payment_counts_only_when_it_succeeds(stripe_client: Any) -> None:
    await opened(stripe_client, "cs_sepa")
    pending = se.session("cs_sepa", paid=False, payment_intent="pi_sepa")
    await se.deliver(stripe_client, se.event("checkout.session.completed", pending))
    assert await raised(stripe_client) == 0 and await session_status(stripe_client) == "processing"
    succeeded = se.session("cs_sepa", payment_intent="pi_sepa")
    await se.deliver(stripe_client, se.event("checkout.session.async_payment_succeeded", succeeded))
    assert await raised(stripe_client) == 2500 and await session_status(stripe_client) == "paid"
    # a late copy of the earlier state moves nothing back
    await se.deliver(stripe_client, se.event("checkout.session.completed", pending))
    assert await session_status(stripe_client) == "paid"


async def test_a_failed_delayed_payment_stays_failed_whatever_comes_after(
    stripe_client: Any,
) -> None:
    await opened(stripe_client, "cs_sepa")
    failed = se.session("cs_sepa", paid=False, payment_intent="pi_sepa")
    await se.deliver(stripe_client, se.event("checkout.session.async_payment_failed", failed))
    await se.deliver(stripe_client, se.event("checkout.session.completed", failed))
    assert await raised(stripe_client) == 0 and await session_status(stripe_client) == "failed"


async def test_payments_kibitz_did_not_start_are_ignored(stripe_client: Any) -> None:
    shop = se.event("checkout.session.completed", se.session(metadata={}))
    assert (await se.deliver(stripe_client, shop)).json()["outcome"] == "ignored"
    unknown = se.event("checkout.session.completed", se.session(
        "cs_2", payment_intent="pi_2", metadata=se.meta("no-such-campaign")))  # fmt: skip
    assert (await se.deliver(stripe_client, unknown)).json()["outcome"] == "ignored"
    other = se.event("payment_intent.created", {"id": "pi_3", "object": "payment_intent"})
    assert (await se.deliver(stripe_client, other)).json()["outcome"] == "ignored"
    assert await entries(stripe_client) == []


async def test_a_signed_but_malformed_event_is_refused(stripe_client: Any) -> None:
    for body in (b"not json", b'{"id": "evt_1"}', json.dumps(se.event(
            "checkout.session.completed", se.session(currency="xau"))).encode()):  # fmt: skip
        response = await se.deliver(stripe_client, body, expect=400)
        assert response.json()["error"]["code"] == "malformed_event"
    assert await count(stripe_client, provider_events) == 0


async def test_a_large_event_is_taken_beyond_the_api_body_limit(stripe_client: Any) -> None:
    big = se.session(metadata=se.meta(message="x" * 500))
    big["line_items"] = {"data": [{"description": "y" * 1000} for _ in range(150)]}
    response = await se.deliver(stripe_client, se.event("checkout.session.completed", big))
    assert response.json()["outcome"] == "applied" and await raised(stripe_client) == 2500


async def test_without_stripe_set_up_the_endpoint_says_so(client: Any) -> None:
    response = await se.deliver(client, se.event("checkout.session.completed", se.session()),
                                expect=404)  # fmt: skip
    assert response.json()["error"]["code"] == "payments_not_set_up"


async def opened(client: Any, session_id: str) -> None:
    """A checkout session as the donation page records it when it opens one."""
    now = datetime.now(UTC)
    values = {"provider": "stripe", "session_id": session_id, "campaign_id": 1, "amount": 2500,
              "currency": "USD", "frequency": "one_time", "status": "open", "created_at": now,
              "updated_at": now}  # fmt: skip
    await client.kb.db.write(lambda conn: conn.execute(payment_sessions.insert(), values))


async def session_status(client: Any) -> str:
    return await client.kb.db.read(
        lambda conn: conn.execute(sa.select(payment_sessions.c.status)).scalar_one()
    )


async def attention(client: Any) -> list[Any]:
    return (await bookkeeping.health(client.kb)).attention


async def test_a_payment_kibitz_cannot_record_is_kept_for_a_person_not_just_logged(
    stripe_client: Any,
) -> None:
    # paid in euros for a campaign that counts in dollars: no rate to convert at
    euros = se.event("checkout.session.completed", se.session(currency="eur"))
    response = await se.deliver(stripe_client, euros)
    assert response.json()["outcome"] == "needs_attention"
    assert await entries(stripe_client) == []
    [open_] = await attention(stripe_client)
    assert open_.event_id == euros["id"] and open_.type == "checkout.session.completed"
    assert "payment stripe:payment:pi_1 of 25.00 € (EUR) for campaign support" in open_.reason
    assert "needs the rate to USD" in open_.reason
    # a retry of the same event changes nothing, and is not counted twice
    assert (await se.deliver(stripe_client, euros)).json()["outcome"] == "duplicate"
    health = await bookkeeping.health(stripe_client.kb)
    assert not health.healthy and len(health.attention) == 1
    # the publisher records it by hand, then says so
    await bookkeeping.mark_handled(stripe_client.kb, audit.SYSTEM, euros["id"], "added #7")
    assert await attention(stripe_client) == [] and (await bookkeeping.health(
        stripe_client.kb)).healthy  # fmt: skip
    with pytest.raises(NotFound):
        await bookkeeping.mark_handled(stripe_client.kb, audit.SYSTEM, euros["id"])


async def test_a_refund_in_another_currency_than_its_gift_is_kept_for_a_person(
    stripe_client: Any,
) -> None:
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    refund = se.event("charge.refunded", se.charge(refunded=2000, currency="eur"))
    assert (await se.deliver(stripe_client, refund)).json()["outcome"] == "needs_attention"
    assert await raised(stripe_client) == 2500  # nothing taken back in the wrong currency
    [open_] = await attention(stripe_client)
    assert "reverses donation #1, which is in USD: not recorded" in open_.reason


async def test_a_deferred_refund_that_turns_out_unrecordable_needs_a_person(
    stripe_client: Any,
) -> None:
    refund = se.event("charge.refunded", se.charge(refunded=2000, currency="eur"))
    assert (await se.deliver(stripe_client, refund)).json()["outcome"] == "deferred"
    await se.deliver(stripe_client, se.event("checkout.session.completed", se.session()))
    [open_] = await attention(stripe_client)
    assert open_.event_id == refund["id"] and await raised(stripe_client) == 2500


async def test_a_renewal_without_campaign_waits_for_its_subscriptions_checkout(
    stripe_client: Any,
) -> None:
    # an invoice whose subscription carries no kibitz metadata, before its checkout is reported
    bare = se.event("invoice.paid", se.invoice("in_1", metadata={}))
    assert (await se.deliver(stripe_client, bare)).json()["outcome"] == "deferred"
    assert await entries(stripe_client) == []
    started = se.session("cs_sub", mode="subscription", amount=1000, subscription="sub_1",
                         customer="cus_9", email="grace@example.org")  # fmt: skip
    await se.deliver(stripe_client, se.event("checkout.session.completed", started))
    assert await raised(stripe_client) == 1000
    [gift] = await entries(stripe_client)
    assert (gift.frequency, gift.provider_ref) == ("monthly", "stripe:invoice:in_1")
    outcomes = await stripe_client.kb.db.read(
        lambda conn: conn.execute(sa.select(provider_events.c.outcome)).scalars().all()
    )
    assert sorted(outcomes) == ["applied", "resolved"]


async def test_a_renewal_of_a_subscription_nobody_reports_stays_listed(stripe_client: Any) -> None:
    stray = se.event("invoice.paid", se.invoice("in_7", subscription="sub_other", metadata={}))
    assert (await se.deliver(stripe_client, stray)).json()["outcome"] == "deferred"
    later = datetime.now(UTC) + timedelta(days=2)
    health = await bookkeeping.health(stripe_client.kb, at=later)
    assert [(e, t) for e, t, _ in health.unmatched] == [(stray["id"], "invoice.paid")]
