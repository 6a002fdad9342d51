"""Reports for the publisher: totals per month (with a chart), donors, recurring revenue,
refunds, and the whole ledger as CSV. Private data (names, e-mail addresses) is in here:
only the CLI and the (authenticated) dashboard may call these."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from babel.dates import format_date
from sqlalchemy import Connection

from kibitz import money, svg
from kibitz.context import Kibitz
from kibitz.db.tables import campaigns
from kibitz.db.tables import recurring_gifts as gifts
from kibitz.services import campaigns as camp
from kibitz.services import ledger


@dataclass
class PeriodTotals:
    key: str
    label: str
    donations: int = 0  # sums, in the campaign's minor units
    refunds: int = 0
    chargebacks: int = 0
    adjustments: int = 0
    gifts: int = 0  # how many donations
    goal: int = 0

    @property
    def net(self) -> int:
        return self.donations + self.refunds + self.chargebacks + self.adjustments


def totals_per_period(
    conn: Connection, slug: str, tz: Any, locale: str, now: datetime
) -> list[PeriodTotals]:
    """Each period of the campaign, oldest first, split by kind of entry."""
    campaign = camp.load(conn, slug)
    goals = camp.goals(conn, campaign)

    def totals(p: camp.Period) -> PeriodTotals:
        return PeriodTotals(p.key, _label(p, locale), goal=camp.goal_at(goals, campaign, p).amount)

    periods = {p.key: totals(p) for p in camp.months(campaign, now, tz)}
    for e in ledger.entries(conn, campaign.id):
        key = camp.period_key(campaign, e.counts_at, tz)
        if key not in periods:
            periods[key] = totals(camp.month(key, tz))
        row = periods[key]
        attr = {"donation": "donations", "refund": "refunds", "chargeback": "chargebacks"}
        name = attr.get(e.kind, "adjustments")
        setattr(row, name, getattr(row, name) + e.counted_amount)
        row.gifts += e.kind == "donation"
    return [periods[k] for k in sorted(periods)]


def _label(period: camp.Period, locale: str) -> str:
    if period.monthly:
        return format_date(period.first_day, "MMM y", locale=locale)
    return "all"


def chart(title: str, rows: list[PeriodTotals], currency: str, locale: str, pattern: str) -> str:
    """The totals per month as an SVG chart (net per month, goal as a dashed line)."""
    columns = [
        svg.Column(r.label, r.net, r.goal, money.format_money(r.net, currency, locale, pattern))
        for r in rows[-24:]
    ]
    return svg.monthly_chart(title, columns)


@dataclass
class DonorRow:
    name: str | None
    email: str | None
    gifts: int = 0
    totals: dict[str, int] = field(default_factory=dict)  # campaign currency -> net counted
    first: datetime | None = None
    last: datetime | None = None
    monthly: bool = False


def donor_list(conn: Connection, slug: str | None = None) -> list[DonorRow]:
    """Everyone who gave with a name or an address, biggest net total first. A refund or
    chargeback counts against the donor of the gift it reverses."""
    campaign_id = camp.load(conn, slug).id if slug else None
    found = ledger.entries(conn, campaign_id)
    by_id = {e.id: e for e in found}
    rows: dict[int, DonorRow] = {}
    for e in found:
        gift = by_id.get(e.reverses_id or e.id, e)
        if gift.donor_id is None:
            continue
        row = rows.setdefault(gift.donor_id, DonorRow(gift.donor_name, gift.donor_email))
        row.totals[e.counted_currency] = row.totals.get(e.counted_currency, 0) + e.counted_amount
        if e.kind == "donation":
            row.gifts += 1
            row.first = min(row.first or e.occurred_at, e.occurred_at)
            row.last = max(row.last or e.occurred_at, e.occurred_at)
            row.monthly = row.monthly or e.frequency == "monthly"
    return sorted(rows.values(), key=lambda r: -sum(r.totals.values()))


@dataclass(frozen=True)
class Recurring:
    campaign: str
    currency: str
    active: int
    monthly_total: int  # minor units per month


def recurring_revenue(conn: Connection) -> list[Recurring]:
    """Active monthly gifts run by a provider, per campaign: the revenue to expect each month."""
    rows = conn.execute(
        sa.select(campaigns.c.slug, gifts.c.currency, sa.func.count(), sa.func.sum(gifts.c.amount))
        .select_from(gifts.join(campaigns, campaigns.c.id == gifts.c.campaign_id))
        .where(gifts.c.status == "active")
        .group_by(campaigns.c.slug, gifts.c.currency)
        .order_by(campaigns.c.slug, gifts.c.currency)
    )
    return [Recurring(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def reversals(conn: Connection, slug: str | None = None) -> list[ledger.Entry]:
    """Refunds and chargebacks, newest first."""
    campaign_id = camp.load(conn, slug).id if slug else None
    found = [e for e in ledger.entries(conn, campaign_id) if e.kind in ledger.REVERSALS]
    return sorted(found, key=lambda e: (e.occurred_at, e.id), reverse=True)


EXPORT_COLUMNS = (
    "id", "campaign", "kind", "date", "counts_at", "amount", "currency", "rate",
    "counted_amount", "counted_currency", "source", "method", "frequency", "name", "email",
    "public_name", "message", "reverses", "provider_ref", "provider_payment_id",
    "provider_charge_id", "provider_subscription_id", "note",
)  # fmt: skip


def export_csv(conn: Connection, slug: str | None = None) -> str:
    """The ledger, every column, amounts in major units with all their digits."""
    campaign_id = camp.load(conn, slug).id if slug else None
    slugs = {r.id: r.slug for r in conn.execute(sa.select(campaigns.c.id, campaigns.c.slug))}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for e in ledger.entries(conn, campaign_id):
        writer.writerow([
            e.id, slugs[e.campaign_id], e.kind, e.occurred_at.isoformat(),
            e.counts_at.isoformat(), money.to_decimal(e.amount, e.currency), e.currency,
            e.fx_rate or "", money.to_decimal(e.counted_amount, e.counted_currency),
            e.counted_currency, e.source, e.method or "", e.frequency, e.donor_name or "",
            e.donor_email or "", e.public_name or "", e.message or "", e.reverses_id or "",
            e.provider_ref or "", e.provider_payment_id or "", e.provider_charge_id or "",
            e.provider_subscription_id or "", e.note or "",
        ])  # fmt: skip
    return out.getvalue()


# -- for async callers (the CLI, the dashboard)


async def monthly(kb: Kibitz, slug: str, now: datetime | None = None) -> list[PeriodTotals]:
    tz = camp.zone(kb.settings.time_zone)
    when = now or datetime.now(UTC)
    return await kb.db.read(
        lambda conn: totals_per_period(conn, slug, tz, kb.settings.locale, when)
    )


async def monthly_chart(kb: Kibitz, slug: str, now: datetime | None = None) -> str:
    campaign = await camp.get(kb, slug)
    rows = await monthly(kb, slug, now)
    s = kb.settings
    return chart(f"{campaign.name}: net per month", rows, campaign.currency, s.locale,
                 s.money_format)  # fmt: skip


async def donors_report(kb: Kibitz, slug: str | None = None) -> list[DonorRow]:
    return await kb.db.read(lambda conn: donor_list(conn, slug))


async def recurring_report(kb: Kibitz) -> list[Recurring]:
    return await kb.db.read(recurring_revenue)


async def refunds_report(kb: Kibitz, slug: str | None = None) -> list[ledger.Entry]:
    return await kb.db.read(lambda conn: reversals(conn, slug))


async def export(kb: Kibitz, slug: str | None = None) -> str:
    return await kb.db.read(lambda conn: export_csv(conn, slug))
