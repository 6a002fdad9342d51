"""The donation page: suggested and custom amounts within bounds, the frequency on the button,
a Stripe Checkout Session opened through the real ``stripe`` library (against a stand-in for
Stripe's API on loopback), card-testing limits, and monthly donors' billing portal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
import stripe

from kibitz.db.tables import campaigns, ledger, outbox, payment_sessions
from kibitz.services import campaigns as camp
from tests import stripe_events as se
from tests.funding_factories import make_campaign
from tests.stripe_standin import StandIn, start


@pytest.fixture
def stripe_api() -> Iterator[StandIn]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


async def site(make_client: Any, stripe_api: StandIn, **overrides: Any) -> Any:
    client = await make_client(site_name="SouthFront", stripe_api_base=stripe_api.url,
                               **{**se.STRIPE, **overrides})  # fmt: skip
    await make_campaign(client.kb, start=date(2021, 6, 1))
    return client


def csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def give(client: Any, expect: int = 303, **form: str) -> Any:
    page = await client.get("/donate", params={"campaign": "support"})
    data = {"_csrf_token": csrf(page.text), "campaign": "support", "amount": "25",
            "frequency": "one_time", **form}  # fmt: skip
    response = await client.post("/donate", data=data)
    assert response.status_code == expect, response.text
    return response


async def rows(client: Any, table: sa.Table) -> list[Any]:
    return await client.kb.db.read(lambda conn: conn.execute(sa.select(table)).all())


async def test_the_page_offers_amounts_within_bounds_and_states_the_frequency(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    page = await client.get("/donate")
    html = page.text
    # the form ends on Stripe's page, and browsers check form-action on the redirect too
    assert "form-action 'self' https://checkout.stripe.com" in page.headers[
        "content-security-policy"]  # fmt: skip
    for label in ("5 $", "10 $", "25 $", "50 $"):
        assert f"> {label}</label>" in html
    assert "From 2.00 $ to 10,000.00 $." in html
    assert ">Donate once</button>" in html and ">Donate monthly</button>" in html
    assert 'name="public_name"' in html and 'name="message"' in html
    assert 'src="/static/donate.js"' in html
    assert "Support SouthFront" in html  # the page every call to action leads to
    article_cta = (await client.get("/funding/support")).text
    assert 'href="/donate"' in article_cta


async def test_a_one_time_gift_opens_a_checkout_session_and_records_no_money(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    response = await give(client, amount="25", public_name="Ada", message="Thanks!")
    assert response.headers["location"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    [sent] = stripe_api.calls("/v1/checkout/sessions")
    assert sent["mode"] == "payment" and sent["submit_type"] == "donate"
    price = sent["line_items"]["0"]["price_data"]
    assert (price["currency"], price["unit_amount"]) == ("usd", "2500")
    assert "recurring" not in price
    assert sent["metadata"] == {"kibitz_campaign": "support", "kibitz_public_name": "Ada",
                                "kibitz_message": "Thanks!"}  # fmt: skip
    assert sent["payment_intent_data"]["metadata"]["kibitz_campaign"] == "support"
    assert sent["success_url"] == (
        "http://127.0.0.1:8000/donate/thanks?session_id={CHECKOUT_SESSION_ID}")  # fmt: skip
    [opened] = await rows(client, payment_sessions)
    assert (opened.session_id, opened.amount, opened.status) == ("cs_test_1", 2500, "open")
    assert opened.ip_hash and "203.0.113.7" not in opened.ip_hash
    # coming back from Stripe records nothing; only the webhook does
    thanks = await client.get("/donate/thanks", params={"session_id": "cs_test_1"})
    assert "being confirmed" in thanks.text
    assert await rows(client, ledger) == []
    paid = se.session("cs_test_1", metadata=se.meta(public_name="Ada"))
    await se.deliver(client, se.event("checkout.session.completed", paid))
    thanks = await client.get("/donate/thanks", params={"session_id": "cs_test_1"})
    assert "Your gift has arrived" in thanks.text
    assert len(await rows(client, ledger)) == 1


async def test_a_monthly_gift_of_a_custom_amount_opens_a_subscription(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    await give(client, amount="other", custom_amount="12.50", frequency="monthly")
    [sent] = stripe_api.calls("/v1/checkout/sessions")
    assert sent["mode"] == "subscription" and "submit_type" not in sent
    price = sent["line_items"]["0"]["price_data"]
    assert (price["unit_amount"], price["recurring"]["interval"]) == ("1250", "month")
    assert sent["subscription_data"]["metadata"]["kibitz_campaign"] == "support"


@pytest.mark.parametrize(
    ("amount", "why"),
    [("1.99", "Give between 2.00 $ and 10,000.00 $"), ("10000.01", "Give between"),
     ("ten", "is not an amount"), ("5.555", "2 decimal places"), ("", "is not an amount")],
)  # fmt: skip
async def test_amounts_outside_the_bounds_are_refused_before_stripe_hears_of_them(
    make_client: Any, stripe_api: StandIn, amount: str, why: str
) -> None:
    client = await site(make_client, stripe_api)
    response = await give(client, expect=422, amount="other", custom_amount=amount)
    assert why in response.text and 'role="alert"' in response.text
    assert stripe_api.requests == [] and await rows(client, payment_sessions) == []


async def test_zero_and_three_decimal_currencies_reach_stripe_in_its_units(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    await make_campaign(client.kb, "yen", currency="JPY", goal=1_000_000)
    await make_campaign(client.kb, "dinar", currency="KWD", goal=1_000_000)
    await give(client, expect=422, campaign="yen", amount="other", custom_amount="1000.5")
    await give(client, campaign="yen", amount="other", custom_amount="1000")
    # Stripe takes three-decimal amounts in steps of ten fils: 7.125 KWD would fail there
    refused = await give(client, expect=422, campaign="dinar", amount="other",
                         custom_amount="7.125")  # fmt: skip
    assert "Card payments in KWD go in steps of 0.010 KWD: give 7.120 KWD or 7.130 KWD" in (
        refused.text)  # fmt: skip
    assert 'id="custom_amount"' in refused.text and 'aria-invalid="true"' in refused.text
    await give(client, campaign="dinar", amount="other", custom_amount="7.120")
    yen, dinar = stripe_api.calls("/v1/checkout/sessions")
    assert (yen["line_items"]["0"]["price_data"]["currency"],
            yen["line_items"]["0"]["price_data"]["unit_amount"]) == ("jpy", "1000")  # fmt: skip
    assert dinar["line_items"]["0"]["price_data"]["unit_amount"] == "7120"


def test_the_stand_in_refuses_what_stripe_refuses(stripe_api: StandIn) -> None:
    client = stripe.StripeClient(se.KEY, base_addresses={"api": stripe_api.url})

    def session(currency: str, amount: int) -> Any:
        price = {"currency": currency, "unit_amount": amount, "product_data": {"name": "Gift"}}
        return client.v1.checkout.sessions.create({
            "mode": "payment", "success_url": "https://example.org/ok",
            "line_items": [{"price_data": price, "quantity": 1}],
        })  # type: ignore[arg-type]  # fmt: skip

    with pytest.raises(stripe.InvalidRequestError, match="last digit must be 0"):
        session("kwd", 7125)
    with pytest.raises(stripe.InvalidRequestError, match="minimum charge amount"):
        session("usd", 30)
    assert session("kwd", 7120).url and session("usd", 50).url


async def test_a_site_in_german_reads_amounts_as_germans_write_them(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api, locale="de_DE")
    html = (await client.get("/donate")).text
    assert "From 2,00 $ to 10.000,00 $." in html and "> 5 $</label>" in html
    assert 'value="25,00"' in html  # a suggested amount, as the reader would type it
    await give(client, amount="other", custom_amount="25,50")
    await give(client, amount="other", custom_amount="1.000,00")
    await give(client, amount="25,00")
    amounts = [c["line_items"]["0"]["price_data"]["unit_amount"]
               for c in stripe_api.calls("/v1/checkout/sessions")]  # fmt: skip
    assert amounts == ["2550", "100000", "2500"]
    for typed, why in (("1,000", "ambiguous: write 1.000 or 1,00"),
                       ("25.50", "is not an amount as written here"),
                       ("zwanzig", "is not an amount (write e.g. 25 or 25,50)"),
                       ("1,99", "Give between 2,00 $ and 10.000,00 $")):  # fmt: skip
        refused = await give(client, expect=422, amount="other", custom_amount=typed)
        assert why in refused.text and 'aria-invalid="true"' in refused.text
    assert len(stripe_api.calls("/v1/checkout/sessions")) == 3


async def test_an_english_site_refuses_a_decimal_comma_rather_than_read_thousands(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    await give(client, amount="other", custom_amount="25.50")
    refused = await give(client, expect=422, amount="other", custom_amount="25,50")
    assert "did you mean 2,550 or 25.5?" in refused.text
    [sent] = stripe_api.calls("/v1/checkout/sessions")
    assert sent["line_items"]["0"]["price_data"]["unit_amount"] == "2550"


async def test_gifts_never_go_below_what_a_card_payment_can_be(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    # a campaign whose minimum was set below Stripe's floor before kibitz checked it
    lower = sa.update(campaigns).where(campaigns.c.slug == "support").values(min_amount=10)
    await client.kb.db.write(lambda conn: conn.execute(lower))
    camp.invalidate(client.kb, "support")
    assert "From 0.50 $ to 10,000.00 $." in (await client.get("/donate")).text
    refused = await give(client, expect=422, amount="other", custom_amount="0.30")
    assert "Give between 0.50 $ and 10,000.00 $" in refused.text and stripe_api.requests == []
    await give(client, amount="other", custom_amount="0.50")
    assert len(stripe_api.calls("/v1/checkout/sessions")) == 1


async def test_opening_payment_pages_is_rate_limited_against_card_testing(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api, rate_limits="checkout.ip=3/3600")
    await give(client, expect=422, amount="other", custom_amount="0.50")  # costs no attempt
    for _ in range(3):
        await give(client)
    limited = await give(client, expect=429)
    assert int(limited.headers["retry-after"]) > 0 and "Too many requests" in limited.text
    assert len(stripe_api.calls("/v1/checkout/sessions")) == 3


async def test_a_stripe_error_is_a_clear_page_and_records_nothing(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    stripe_api.fail_with = (400, {"error": {"type": "invalid_request_error",
                                            "message": "Amount too small"}})  # fmt: skip
    response = await give(client, expect=502)
    assert "could not be opened" in response.text and "Nothing was charged" in response.text
    assert await rows(client, payment_sessions) == []


async def test_the_form_needs_its_csrf_token(make_client: Any, stripe_api: StandIn) -> None:
    client = await site(make_client, stripe_api)
    response = await client.post("/donate", data={"campaign": "support", "amount": "25"})
    assert response.status_code == 403 and stripe_api.requests == []


async def test_without_stripe_the_page_says_payments_are_not_set_up(make_client: Any) -> None:
    client = await make_client(site_name="SouthFront")
    await make_campaign(client.kb)
    html = (await client.get("/donate")).text
    assert "Card payments are not set up" in html and '<form class="donate-form"' not in html


async def test_a_campaign_that_has_ended_takes_no_gifts(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    await make_campaign(client.kb, "june", start=date(2021, 6, 1), end=date(2021, 6, 1))
    html = (await client.get("/donate", params={"campaign": "june"})).text
    assert "ended with June 2021" in html and "donate-form" not in html
    response = await give(client, expect=422, campaign="june")
    assert "not taking gifts" in response.text and stripe_api.requests == []


async def test_monthly_donors_manage_their_gift_through_the_billing_portal(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    started = se.session("cs_sub", mode="subscription", amount=1000, subscription="sub_1",
                         customer="cus_9", email="grace@example.org")  # fmt: skip
    await se.deliver(client, se.event("checkout.session.completed", started))
    await se.deliver(client, se.event("invoice.paid", se.invoice("in_1")))
    [mail] = [json.loads(p) for p in await client.kb.db.read(
        lambda conn: conn.execute(sa.select(outbox.c.payload)).scalars().all())]  # fmt: skip
    link = re.search(r"http://127\.0\.0\.1:8000(/donate/manage\?token=\S+)", mail["text"])
    assert link, mail["text"]
    page = await client.get(link.group(1))
    assert page.status_code == 200 and "Manage my monthly gift" in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    portal = await client.post("/donate/manage", data={"_csrf_token": csrf(page.text),
                                                       "token": token.group(1)})  # fmt: skip
    assert portal.status_code == 303
    assert portal.headers["location"].startswith("https://billing.stripe.com/p/session/")
    [asked] = stripe_api.calls("/v1/billing_portal/sessions")
    assert asked == {"customer": "cus_9", "return_url": "http://127.0.0.1:8000/donate"}
    forged = await client.get("/donate/manage", params={"token": "cus_9:9999999999.forged"},
                              headers={"accept": "application/json"})  # fmt: skip
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "invalid_token"


async def test_a_management_link_is_mailed_only_to_monthly_donors_and_says_nothing(
    make_client: Any, stripe_api: StandIn
) -> None:
    client = await site(make_client, stripe_api)
    started = se.session("cs_sub", mode="subscription", amount=1000, subscription="sub_1",
                         customer="cus_9", email="grace@example.org")  # fmt: skip
    await se.deliver(client, se.event("checkout.session.completed", started))
    page = await client.get("/donate/manage")
    answers = []
    for address in ("Grace@Example.org", "nobody@example.org"):
        done = await client.post("/donate/manage-link", data={"_csrf_token": csrf(page.text),
                                                               "email": address})  # fmt: skip
        assert done.status_code == 200
        answers.append(re.sub(r'value="[^"]+"', "", done.text))
    assert answers[0] == answers[1]  # nobody learns who gives monthly
    mails = [json.loads(p) for p in await client.kb.db.read(
        lambda conn: conn.execute(sa.select(outbox.c.payload)).scalars().all())]  # fmt: skip
    assert [m["to"] for m in mails] == ["Grace@Example.org"]
    assert "10.00 $ a month" in mails[0]["text"] and "/donate/manage?token=" in mails[0]["text"]
