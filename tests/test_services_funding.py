"""Campaigns, periods in the site's time zone, the counting rule and the ledger's guarantees,
on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from kibitz import reference
from kibitz.db.tables import LEDGER_REDACTABLE, campaign_totals, ledger
from kibitz.services import campaigns as camp
from kibitz.services import funding, funding_reports
from kibitz.services import ledger as led
from kibitz.services.errors import Conflict, Invalid, NotFound
from tests.funding_factories import JUNE, give, make_campaign


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def raised(kb: Any, slug: str = "support", period: str | None = "2021-06") -> int:
    bar = await funding.bar(kb, slug, period, now=JUNE)
    assert bar is not None
    return bar.raised


async def test_a_month_runs_midnight_to_midnight_in_the_site_time_zone(make_kb: Any) -> None:
    kb = await make_kb(time_zone="Europe/Berlin")
    c = await make_campaign(kb)
    # 21:30 UTC on June 30 is 23:30 in Berlin: still June
    await give(kb, c, 100, at=utc(2021, 6, 30, 21, 30))
    # 22:30 UTC on June 30 is 00:30 on July 1 in Berlin: July
    await give(kb, c, 1000, at=utc(2021, 6, 30, 22, 30))
    # 22:30 UTC on May 31 is 00:30 on June 1 in Berlin: June
    await give(kb, c, 10, at=utc(2021, 5, 31, 22, 30))
    assert await raised(kb, period="2021-06") == 110
    assert await raised(kb, period="2021-07") == 1000
    june = camp.month("2021-06", camp.zone("Europe/Berlin"))
    assert (june.starts_at, june.ends_at) == (utc(2021, 5, 31, 22), utc(2021, 6, 30, 22))


async def test_months_across_a_daylight_saving_change_and_the_new_year(make_kb: Any) -> None:
    tz = camp.zone("America/New_York")
    march, december = camp.month("2021-03", tz), camp.month("2021-12", tz)
    assert march.starts_at == utc(2021, 3, 1, 5) and march.ends_at == utc(2021, 4, 1, 4)
    assert december.ends_at == utc(2022, 1, 1, 5) and december.last_day == date(2021, 12, 31)
    kb = await make_kb(time_zone="America/New_York")
    c = await make_campaign(kb, start=date(2021, 12, 1))
    await give(kb, c, 500, at=utc(2022, 1, 1, 4, 59))  # 23:59 on Dec 31 in New York
    assert await raised(kb, period="2021-12") == 500


async def test_the_bar_shows_the_current_month_and_clamps_to_the_campaign(kb: Any) -> None:
    c = await make_campaign(kb, end=date(2021, 8, 1))
    tz = camp.zone("UTC")
    assert camp.current_period(c, utc(2021, 7, 9), tz).key == "2021-07"
    assert camp.current_period(c, utc(2021, 1, 1), tz).key == "2021-06"  # not started yet
    assert camp.current_period(c, utc(2030, 1, 1), tz).key == "2021-08"  # ended
    assert [p.key for p in camp.months(c, utc(2030, 1, 1), tz)] == ["2021-06", "2021-07",
                                                                     "2021-08"]  # fmt: skip
    with pytest.raises(NotFound):
        camp.period(c, "2021-09", tz)
    with pytest.raises(Invalid):
        camp.period(c, "2021-13", tz)


async def test_a_fixed_campaign_has_one_period_from_its_first_to_its_last_day(kb: Any) -> None:
    c = await make_campaign(
        kb, "drive", period="fixed", start=date(2021, 6, 10), end=date(2021, 6, 20)
    )
    await give(kb, c, 700, at=utc(2021, 6, 20, 23, 59))
    bar = await funding.bar(kb, "drive", now=utc(2021, 6, 15))
    assert bar is not None and bar.period.key == "all" and bar.raised == 700
    assert bar.period_label == "Jun 10\u2009\u2013\u200920, 2021" and bar.is_open
    closed = await funding.bar(kb, "drive", now=utc(2021, 6, 21))
    assert closed is not None and not closed.is_open
    with pytest.raises(Invalid, match="monthly campaigns"):
        await give(kb, c, 100, frequency="monthly")


async def test_campaigns_check_what_they_are_given(kb: Any) -> None:
    await make_campaign(kb)
    with pytest.raises(Conflict):
        await make_campaign(kb)
    bad = [
        {"slug": "Bad Slug"}, {"goal": 0}, {"currency": "XYZ"}, {"milestones": (0, 5, 3)},
        {"suggested_amounts": (1,), "min_amount": 100}, {"min_amount": 0},
        {"period": "fixed", "end": None},
    ]  # fmt: skip
    for fields in bad:
        args = {"slug": "other", **fields}
        with pytest.raises(Invalid):
            await make_campaign(kb, **args)


async def test_default_milestones_are_zero_half_and_goal(kb: Any) -> None:
    c = await make_campaign(kb, goal=500000)
    assert c.milestones == (0, 250000, 500000)
    bar = await funding.bar(kb, "support", now=JUNE)
    assert bar is not None
    assert [t.label for t in bar.ticks] == ["0 $", "2,500 $", "5,000 $"]
    assert [t.position for t in bar.ticks] == [0, 0.5, 1]
    changed = await camp.update(kb, "support", camp.CampaignUpdate(goal=1000000))
    assert changed.milestones == (0, 500000, 1000000)
    custom = await camp.update(kb, "support", camp.CampaignUpdate(milestones=(0, 100000, 1000000)))
    assert custom.milestones == (0, 100000, 1000000)


async def test_a_new_goal_holds_from_its_month_and_earlier_months_keep_theirs(kb: Any) -> None:
    c = await make_campaign(kb, goal=500000)
    await give(kb, c, 166000)
    july, august = utc(2021, 7, 10), utc(2021, 8, 20)
    await camp.update(kb, "support", camp.CampaignUpdate(goal=750000), now=july)

    async def bar(period: str, now: datetime = august) -> funding.Bar:
        shown = await funding.bar(kb, "support", period, now=now)
        assert shown is not None
        return shown

    june = await bar("2021-06")
    assert june.sentence == "1,660 $ raised of 5,000 $ goal, June 2021"
    assert [t.label for t in june.ticks] == ["0 $", "2,500 $", "5,000 $"]
    assert (await bar("2021-07")).goal_label == "7,500 $"
    assert (await bar("2021-08")).goal_label == "7,500 $"
    current = await funding.bar(kb, "support", now=july)
    assert current is not None and current.sentence == "0 $ raised of 7,500 $ goal, July 2021"
    # changed again in the same month: that month's goal is replaced, June's stays
    await camp.update(kb, "support", camp.CampaignUpdate(milestones=(0, 6000_00, 8000_00),
                                                         goal=8000_00), now=july)  # fmt: skip
    assert [t.label for t in (await bar("2021-07")).ticks] == ["0 $", "6,000 $", "8,000 $"]
    assert (await bar("2021-06")).goal == 500000
    history = await funding.history(kb, "support", now=august)
    assert [(b.period.key, b.goal) for b in history] == [
        ("2021-08", 800000), ("2021-07", 800000), ("2021-06", 500000)]  # fmt: skip
    rows = await funding_reports.monthly(kb, "support", now=august)
    assert [(r.key, r.goal) for r in rows] == [
        ("2021-06", 500000), ("2021-07", 800000), ("2021-08", 800000)]  # fmt: skip


async def test_a_fixed_campaigns_goal_is_its_one_periods_goal(kb: Any) -> None:
    await make_campaign(kb, "drive", period="fixed", start=date(2021, 6, 1),
                        end=date(2021, 6, 30))  # fmt: skip
    await camp.update(kb, "drive", camp.CampaignUpdate(goal=900000), now=utc(2021, 6, 20))
    shown = await funding.bar(kb, "drive", now=utc(2021, 6, 20))
    assert shown is not None and shown.goal == 900000


async def test_card_minimums_are_checked_when_a_campaign_is_set(kb: Any) -> None:
    with pytest.raises(
        Invalid, match=re.escape("at least 0.50 $: card payments in USD")
    ) as refused:
        await make_campaign(kb, min_amount=20, suggested_amounts=(500,))
    assert refused.value.field == "min"
    await make_campaign(kb)
    with pytest.raises(Invalid, match=re.escape("at least 0.30 £")):
        await make_campaign(kb, "pounds", currency="GBP", min_amount=25)
    with pytest.raises(Invalid, match=re.escape("at least 0.50 $")):
        await camp.update(kb, "support", camp.CampaignUpdate(min_amount=49))
    with pytest.raises(Invalid, match=re.escape("steps of 0.010 KWD")):
        await make_campaign(kb, "dinar", currency="KWD", suggested_amounts=(5000, 7125))
    # defaults fit the floor even where an everyday unit is below it
    forint = await make_campaign(kb, "forint", currency="HUF")
    assert forint.min_amount >= 17500 and min(forint.suggested_amounts) >= forint.min_amount


async def test_a_donors_name_follows_their_latest_gift(kb: Any) -> None:
    c = await make_campaign(kb)
    await give(kb, c, 1000, donor_email="ada@example.org", donor_name="Ada Byron")
    await give(kb, c, 1000, donor_email="Ada@Example.org", donor_name="Ada Lovelace")
    await give(kb, c, 1000, donor_email="ada@example.org")  # no name given: kept
    [donor] = await funding_reports.donors_report(kb)
    assert (donor.name, donor.gifts) == ("Ada Lovelace", 3)


async def test_the_counting_rule_with_refunds_chargebacks_and_adjustments(kb: Any) -> None:
    c = await make_campaign(kb)
    first = await give(kb, c, 10000)
    second = await give(kb, c, 5000)
    await give(kb, c, 2500, at=utc(2021, 6, 1))
    assert await raised(kb) == 17500
    # a partial refund in July counts against June, where its donation counted
    await give(kb, c, 4000, kind="refund", reverses_id=first, at=utc(2021, 7, 2))
    assert await raised(kb) == 13500 and await raised(kb, period="2021-07") == 0
    await give(kb, c, 5000, kind="chargeback", reverses_id=second, at=utc(2021, 7, 3))
    assert await raised(kb) == 8500
    await give(kb, c, -500, kind="adjustment", note="bank fee")
    await give(kb, c, 1200, kind="adjustment", at=utc(2021, 7, 9))
    assert await raised(kb) == 8000 and await raised(kb, period="2021-07") == 1200
    bar = await funding.bar(kb, "support", "2021-06", now=JUNE)
    assert bar is not None and bar.donations == 3
    # the rule, straight from the ledger, agrees with the cached total
    june = camp.month("2021-06", camp.zone("UTC"))
    assert await kb.db.read(lambda conn: led.sum_period(conn, c.id, june.starts_at,
                                                         june.ends_at)) == 8000  # fmt: skip


async def test_reversals_never_exceed_their_donation(kb: Any) -> None:
    c = await make_campaign(kb)
    gift = await give(kb, c, 3000)
    await give(kb, c, 2000, kind="refund", reverses_id=gift)
    with pytest.raises(Invalid, match="left to reverse"):
        await give(kb, c, 1500, kind="chargeback", reverses_id=gift)
    with pytest.raises(Invalid, match="names the donation"):
        await give(kb, c, 100, kind="refund")
    other = await make_campaign(kb, "other")
    with pytest.raises(Invalid, match="this campaign"):
        await give(kb, other, 100, kind="refund", reverses_id=gift)
    assert await raised(kb) == 1000


async def test_other_currencies_count_at_the_rate_recorded_on_the_entry(kb: Any) -> None:
    c = await make_campaign(kb)
    with pytest.raises(Invalid, match="rate"):
        await give(kb, c, 2000, currency="EUR")
    eur = await give(kb, c, 2000, currency="EUR", fx_rate="1.2175")
    await give(kb, c, 1000, currency="JPY", fx_rate="0.0091")
    await give(kb, c, 1234, currency="KWD", fx_rate="3.3")
    assert await raised(kb) == 2435 + 910 + 407
    # a refund reuses its donation's rate, so a full refund takes back exactly what it added
    await give(kb, c, 2000, kind="refund", currency="EUR", reverses_id=eur, fx_rate="9.99")
    assert await raised(kb) == 910 + 407
    entry = await kb.db.read(lambda conn: led.get(conn, eur))
    assert (entry.amount, entry.currency, entry.fx_rate, entry.counted_amount) == (
        2000, "EUR", "1.2175", 2435)  # fmt: skip


async def test_partial_refunds_in_another_currency_add_back_to_the_donation(kb: Any) -> None:
    c = await make_campaign(kb)
    gift = await give(kb, c, 1001, currency="EUR", fx_rate="1.5")  # 15.015 -> 15.02 USD
    for _ in range(3):
        await give(kb, c, 333, kind="refund", currency="EUR", reverses_id=gift)
    await give(kb, c, 2, kind="refund", currency="EUR", reverses_id=gift)
    assert await raised(kb) == 0  # no cent left over from rounding each part


async def test_the_ledger_is_append_only_in_the_database(kb: Any) -> None:
    c = await make_campaign(kb)
    await give(kb, c, 2500)
    for sql in (sa.update(ledger).values(amount=1), sa.delete(ledger)):
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            await kb.db.write(lambda conn, sql=sql: conn.execute(sql))
    assert await raised(kb) == 2500


def _other_value(column: sa.Column[Any]) -> Any:
    """A value unlike any the test's entry holds in this column."""
    if isinstance(column.type, sa.Integer):  # BigInteger too
        return 987654321
    if isinstance(column.type, sa.String):
        return "ZZZ"
    return datetime(2000, 1, 1, tzinfo=UTC)


async def test_only_a_donors_words_may_be_taken_out_of_the_ledger(kb: Any) -> None:
    """Erasure redacts a donor's message and public name; the database refuses every other
    change, to any column (a new column is covered the day it is added), and refuses to put
    words back."""
    c = await make_campaign(kb)
    gift = await give(kb, c, 2500, donor_email="ada@example.org", donor_name="Ada L.",
                      public_name="Ada", message="For the reporters")  # fmt: skip
    assert gift is not None
    for column in ledger.columns:
        if column.name in LEDGER_REDACTABLE:
            continue
        change = sa.update(ledger).values({column.name: _other_value(column)})
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            await kb.db.write(lambda conn, sql=change: conn.execute(sql))
    for words in ({"message": "Other words"}, {"public_name": "Eve"}):
        change = sa.update(ledger).values(words)
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            await kb.db.write(lambda conn, sql=change: conn.execute(sql))
    entry = await kb.db.read(lambda conn: led.get(conn, gift))
    assert entry.donor_id is not None
    await kb.db.write(lambda conn: led.redact_donor(conn, entry.donor_id))
    after = await kb.db.read(lambda conn: led.get(conn, gift))
    assert (after.message, after.public_name) == (None, None)
    shown = sa.select(ledger.c.display).where(ledger.c.id == gift)
    assert await kb.db.read(lambda conn: conn.execute(shown).scalar_one()) == "anonymous"
    assert (after.donor_email, after.donor_name) == (None, None)
    assert (after.amount, after.counted_amount, after.occurred_at, after.donor_id) == (
        entry.amount, entry.counted_amount, entry.occurred_at, entry.donor_id)  # fmt: skip
    assert await raised(kb) == 2500
    for words in ({"message": "For the reporters"}, {"display": "name", "public_name": "Ada"}):
        back = sa.update(ledger).values(words)
        with pytest.raises((IntegrityError, DBAPIError), match="append-only"):
            await kb.db.write(lambda conn, sql=back: conn.execute(sql))


async def test_the_database_refuses_entries_that_break_the_rules(kb: Any) -> None:
    c = await make_campaign(kb)
    base = {"campaign_id": c.id, "kind": "donation", "amount": 100, "currency": "USD",
            "counted_amount": 100, "counted_currency": "USD", "counts_at": JUNE,
            "occurred_at": JUNE, "recorded_at": JUNE, "source": "manual"}  # fmt: skip
    wrong = [
        {"amount": -100, "counted_amount": -100},  # a negative donation
        {"counted_amount": 99},  # same currency, other amount
        {"currency": "EUR"},  # converted without a rate
        {"counted_currency": "EUR"},  # not the campaign's currency
        {"kind": "refund", "amount": -100, "counted_amount": -100},  # reverses nothing
        {"display": "name"},  # named without a name
    ]
    for change in wrong:
        with pytest.raises(IntegrityError):
            await kb.db.write(lambda conn, v={**base, **change}: conn.execute(ledger.insert(), v))
    await kb.db.write(lambda conn: conn.execute(ledger.insert(), base))


async def test_check_finds_drift_and_recount_repairs_it(kb: Any) -> None:
    c = await make_campaign(kb)
    await give(kb, c, 2500)
    tz = camp.zone("UTC")
    assert await kb.db.read(lambda conn: led.drift(conn, tz)) == []
    await kb.db.write(lambda conn: conn.execute(sa.update(campaign_totals).values(raised=9999)))
    drifted = await kb.db.read(lambda conn: led.drift(conn, tz))
    assert [(d.campaign, d.period_key, d.cached_raised, d.ledger_raised) for d in drifted] == [
        ("support", "2021-06", 9999, 2500)]  # fmt: skip
    await kb.db.write(lambda conn: led.recount(conn, tz, JUNE))
    assert await kb.db.read(lambda conn: led.drift(conn, tz)) == []
    assert await raised(kb) == 2500


async def test_the_supporter_wall_is_opt_in_and_drops_reversed_gifts(kb: Any) -> None:
    c = await make_campaign(kb)
    await give(kb, c, 1000, public_name="Ada", message="Keep going", donor_email="ada@example.org")
    await give(kb, c, 1000, donor_name="Private Person", donor_email="p@example.org")
    refunded = await give(kb, c, 1000, public_name="Bob")
    await give(kb, c, 1000, kind="refund", reverses_id=refunded)
    bar = await funding.bar(kb, "support", now=JUNE)
    assert bar is not None
    wall = await funding.supporters(kb, bar)
    assert [(s.public_name, s.message) for s in wall] == [("Ada", "Keep going")]
    await camp.update(kb, "support", camp.CampaignUpdate(supporter_wall=False))
    bar = await funding.bar(kb, "support", now=JUNE)
    assert bar is not None and await funding.supporters(kb, bar) == []


async def test_a_goal_exceeded_is_said_in_words(kb: Any) -> None:
    c = await make_campaign(kb, goal=100000)
    await give(kb, c, 125000)
    bar = await funding.bar(kb, "support", now=JUNE)
    assert bar is not None and bar.exceeded and bar.fill == 1.0 and bar.percent == 125
    assert bar.sentence == "1,250 $ raised of 1,000 $ goal, June 2021 (goal exceeded by 250 $)"
    assert bar.goal_position == pytest.approx(0.8)


async def test_the_reference_campaign_shows_1660_of_5000_for_june_2021(kb: Any) -> None:
    await reference.load_funding(kb)
    await reference.load_funding(kb)  # loading again adds nothing
    bar = await funding.bar(kb)
    assert bar is not None
    assert [t.label for t in bar.ticks] == ["0 $", "2,500 $", "5,000 $"]
    assert (bar.raised_label, bar.period_label.upper()) == ("1,660 $", "JUNE 2021")
    assert bar.raised == 166000 and bar.sentence == "1,660 $ raised of 5,000 $ goal, June 2021"
    entries = await kb.db.read(lambda conn: led.entries(conn, bar.campaign.id))
    kinds = {e.kind for e in entries}
    assert kinds == {"donation", "refund", "chargeback", "adjustment"}
    assert sum(e.counted_amount for e in entries) == 166000
    assert {e.currency for e in entries} == {"USD", "EUR", "GBP"}
