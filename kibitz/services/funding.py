"""The funding bar: a campaign period's progress, formatted for readers.

One code path for every way the bar is shown: the HTML above articles and on the campaign
page, the JSON the widget reads, and the SVG image. Amounts are formatted with Babel in the
site's locale and pattern (``KIBITZ_LOCALE``, ``KIBITZ_MONEY_FORMAT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_date, format_interval

from kibitz import money
from kibitz.context import Kibitz
from kibitz.services import campaigns as camp
from kibitz.services import ledger
from kibitz.services.campaigns import Campaign, Period
from kibitz.settings import Settings


@dataclass(frozen=True)
class Tick:
    amount: int
    label: str
    position: float  # 0..1 along the bar


@dataclass(frozen=True)
class Bar:
    campaign: Campaign
    period: Period
    raised: int
    donations: int
    goal: int
    scale: int
    ticks: tuple[Tick, ...]
    raised_label: str
    goal_label: str
    period_label: str
    sentence: str
    is_open: bool

    @property
    def fill(self) -> float:
        """How much of the bar is filled, 0..1."""
        return max(0.0, min(1.0, self.raised / self.scale))

    @property
    def goal_position(self) -> float:
        return self.goal / self.scale

    @property
    def percent(self) -> int:
        return max(0, self.raised * 100 // self.goal)

    @property
    def reached(self) -> bool:
        return self.raised >= self.goal

    @property
    def exceeded(self) -> bool:
        return self.raised > self.goal

    @property
    def shown_raised(self) -> int:
        return max(self.raised, 0)

    def as_json(self, public_url: str) -> dict[str, Any]:
        base = public_url.rstrip("/")
        c = self.campaign
        return {
            "campaign": {
                "slug": c.slug, "name": c.name, "open": self.is_open,
                "url": f"{base}/funding/{c.slug}", "donate_url": f"{base}/donate?campaign={c.slug}",
                "image_url": f"{base}/funding/{c.slug}.svg",
            },
            "period": {
                "key": self.period.key, "label": self.period_label, "monthly": self.period.monthly,
                "starts_at": self.period.starts_at.isoformat(),
                "ends_at": self.period.ends_at.isoformat(),
            },
            "currency": c.currency,
            "raised": {"amount": self.raised, "formatted": self.raised_label},
            "goal": {
                "amount": self.goal, "formatted": self.goal_label,
                "position": round(self.goal_position, 4),
            },
            "scale": self.scale,
            "fill": round(self.fill, 4),
            "percent": self.percent,
            "reached": self.reached,
            "exceeded": self.exceeded,
            "donations": self.donations,
            "ticks": [
                {"amount": t.amount, "label": t.label, "position": round(t.position, 4)}
                for t in self.ticks
            ],
            "sentence": self.sentence,
            "aria": {
                "valuemin": 0,
                "valuemax": _major(self.scale, c.currency),
                "valuenow": _major(self.shown_raised, c.currency),
                "valuetext": self.sentence,
            },
        }  # fmt: skip


def _major(minor: int, currency: str) -> int | float:
    value = money.to_decimal(minor, currency)
    return int(value) if value == value.to_integral_value() else float(value)


def period_label(period: Period, locale: str) -> str:
    if period.monthly:
        return format_date(period.first_day, "LLLL y", locale=locale)
    return format_interval(period.first_day, period.last_day, "yMMMd", locale=locale)


def build(
    settings: Settings, campaign: Campaign, period: Period, raised: int, donations: int,
    now: datetime, target: camp.Goal | None = None,
) -> Bar:  # fmt: skip
    """The bar of one period; ``target`` is that period's goal (default: the current one)."""
    fmt = settings.money_format
    locale = settings.locale

    def show(minor: int) -> str:
        return money.format_money(minor, campaign.currency, locale, fmt)

    target = target or camp.Goal(campaign.goal, campaign.milestones)
    goal = target.amount
    scale = max(goal, raised, target.milestones[-1])
    ticks = tuple(Tick(m, show(m), m / scale) for m in target.milestones)
    label = period_label(period, locale)
    raised_label, goal_label = show(max(raised, 0)), show(goal)
    sentence = f"{raised_label} raised of {goal_label} goal, {label}"
    if raised > goal:
        sentence += f" (goal exceeded by {show(raised - goal)})"
    elif raised == goal:
        sentence += " (goal reached)"
    return Bar(
        campaign=campaign, period=period, raised=raised, donations=donations, goal=goal,
        scale=scale, ticks=ticks, raised_label=raised_label, goal_label=goal_label,
        period_label=label, sentence=sentence,
        is_open=campaign.is_open(now) and period.starts_at <= now < period.ends_at,
    )  # fmt: skip


async def bar(
    kb: Kibitz, slug: str | None = None, key: str | None = None, now: datetime | None = None
) -> Bar | None:
    """The bar of campaign ``slug`` (or the featured one), for period ``key`` (or now)."""
    now = now or datetime.now(UTC)
    tz = camp.zone(kb.settings.time_zone)

    def read(conn: Any) -> Bar | None:
        if slug is None:
            found = camp.featured(conn, now, kb.settings.funding_campaign)
            if found is None:
                return None
            campaign = found
        else:
            campaign = camp.load(conn, slug)
        period = camp.period(campaign, key, tz) if key else camp.current_period(campaign, now, tz)
        raised, donations = camp.totals(conn, campaign.id, period.key)
        target = camp.goal_of(conn, campaign, period)
        return build(kb.settings, campaign, period, raised, donations, now, target)

    return await kb.db.read(read)


async def history(kb: Kibitz, slug: str, now: datetime | None = None) -> list[Bar]:
    """Every period of a campaign so far, newest first."""
    now = now or datetime.now(UTC)
    tz = camp.zone(kb.settings.time_zone)

    def read(conn: Any) -> list[Bar]:
        campaign = camp.load(conn, slug)
        goals = camp.goals(conn, campaign)
        out = []
        for period in reversed(camp.months(campaign, now, tz)):
            raised, donations = camp.totals(conn, campaign.id, period.key)
            target = camp.goal_at(goals, campaign, period)
            out.append(build(kb.settings, campaign, period, raised, donations, now, target))
        return out

    return await kb.db.read(read)


async def supporters(kb: Kibitz, shown: Bar, limit: int = 100) -> list[ledger.Supporter]:
    if not shown.campaign.supporter_wall:
        return []
    p = shown.period
    return await kb.db.read(
        lambda conn: ledger.supporters(conn, shown.campaign.id, p.starts_at, p.ends_at, limit)
    )
