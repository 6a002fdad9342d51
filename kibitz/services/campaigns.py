"""Campaigns and their periods: a goal per calendar month in the site's time zone, or one
goal for a fixed range of dates.

Each period keeps the goal it had: a change of the goal (or of the ticks) takes effect from
the current period on (``campaign_goals``), and the months before it keep theirs, so June
2021 still reads "of 5,000 $" after the goal went up in July.

A monthly campaign's month runs from midnight on the 1st to midnight on the 1st of the next
month, in the site's time zone (``KIBITZ_TIME_ZONE``), so a gift made at 23:30 on June 30
in Berlin counts for June even though it is July in UTC. Every ledger entry falls in exactly
one period: the month of its ``counts_at``; a fixed campaign has the single period "all".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection

from kibitz import money
from kibitz.context import Kibitz
from kibitz.db.tables import campaign_goals, campaign_totals, campaigns
from kibitz.payments import limits
from kibitz.services.errors import Conflict, Invalid, NotFound

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
FIXED_KEY = "all"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Campaign:
    id: int
    slug: str
    name: str
    description: str
    period: str  # monthly | fixed
    currency: str
    goal: int
    milestones: tuple[int, ...]
    suggested_amounts: tuple[int, ...]
    min_amount: int
    max_amount: int
    supporter_wall: bool
    starts_at: datetime
    ends_at: datetime | None

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def has_ended(self, now: datetime) -> bool:
        return self.ends_at is not None and now >= self.ends_at


@dataclass(frozen=True)
class Period:
    key: str  # "2021-06", or "all" for a fixed campaign
    starts_at: datetime  # UTC, inclusive
    ends_at: datetime  # UTC, exclusive
    first_day: date  # in the site's time zone
    last_day: date
    monthly: bool


@dataclass(frozen=True)
class Goal:
    """A period's goal and the ticks on its bar, in minor units of the campaign's currency."""

    amount: int
    milestones: tuple[int, ...]


@dataclass(frozen=True)
class NewCampaign:
    """A campaign as the publisher describes it; amounts in minor units of ``currency``."""

    slug: str
    name: str
    currency: str
    goal: int
    period: str = "monthly"
    # monthly: the first and (optionally) last month; fixed: the first and last day
    start: date | None = None
    end: date | None = None
    milestones: tuple[int, ...] | None = None
    suggested_amounts: tuple[int, ...] | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    description: str = ""
    supporter_wall: bool = True


@dataclass(frozen=True)
class CampaignUpdate:
    name: str | None = None
    description: str | None = None
    goal: int | None = None
    milestones: tuple[int, ...] | None = None
    default_milestones: bool = False
    suggested_amounts: tuple[int, ...] | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    supporter_wall: bool | None = None
    end: date | None = None
    open_ended: bool = False


# -- periods


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _month_start(year: int, month: int, tz: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_key(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def month(key: str, tz: ZoneInfo) -> Period:
    match = MONTH_RE.match(key)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise Invalid("invalid_period", f"{key!r} is not a month (YYYY-MM).", "period")
    year, mon = int(match.group(1)), int(match.group(2))
    ny, nm = _next_month(year, mon)
    return Period(
        key=key, starts_at=_month_start(year, mon, tz), ends_at=_month_start(ny, nm, tz),
        first_day=date(year, mon, 1), last_day=date(ny, nm, 1) - timedelta(days=1),
        monthly=True,
    )  # fmt: skip


def period_key(campaign: Campaign, at: datetime, tz: ZoneInfo) -> str:
    """The period an entry counting at ``at`` belongs to."""
    return month_key(at, tz) if campaign.period == "monthly" else FIXED_KEY


def period(campaign: Campaign, key: str, tz: ZoneInfo) -> Period:
    if campaign.period == "fixed":
        if key != FIXED_KEY:
            raise Invalid("invalid_period", "A fixed campaign has one period, 'all'.", "period")
        assert campaign.ends_at is not None
        return Period(
            key=FIXED_KEY, starts_at=campaign.starts_at, ends_at=campaign.ends_at,
            first_day=campaign.starts_at.astimezone(tz).date(),
            last_day=(campaign.ends_at - timedelta(microseconds=1)).astimezone(tz).date(),
            monthly=False,
        )  # fmt: skip
    found = month(key, tz)
    first = month(month_key(campaign.starts_at, tz), tz)
    if found.starts_at < first.starts_at or (
        campaign.ends_at is not None and found.starts_at >= campaign.ends_at
    ):
        raise NotFound("no_such_period", f"The campaign {campaign.slug!r} has no month {key}.")
    return found


def current_period(campaign: Campaign, now: datetime, tz: ZoneInfo) -> Period:
    """The period a bar shows now: this month; the first before the start; the last after
    the end."""
    if campaign.period == "fixed":
        return period(campaign, FIXED_KEY, tz)
    at = max(now, campaign.starts_at)
    if campaign.ends_at is not None and at >= campaign.ends_at:
        at = campaign.ends_at - timedelta(microseconds=1)
    return month(month_key(at, tz), tz)


def months(campaign: Campaign, until: datetime, tz: ZoneInfo) -> list[Period]:
    """Every month of a monthly campaign from its first up to the one shown at ``until``."""
    if campaign.period != "monthly":
        return [period(campaign, FIXED_KEY, tz)]
    out: list[Period] = []
    last = current_period(campaign, until, tz)
    key = month_key(campaign.starts_at, tz)
    while True:
        p = month(key, tz)
        out.append(p)
        if p.key == last.key:
            return out
        y, m = _next_month(p.first_day.year, p.first_day.month)
        key = f"{y:04d}-{m:02d}"


# -- defaults and checks


def _unit(currency: str) -> int:
    """One everyday unit: 1 dollar, 1 dinar, but 100 yen (so defaults make sense)."""
    e = money.exponent(currency)
    return 10**e if e else 100


def default_milestones(goal: int) -> tuple[int, ...]:
    return (0, goal // 2, goal)


def _check(new: NewCampaign) -> None:
    if not SLUG_RE.match(new.slug):
        raise Invalid(
            "invalid_slug", "A slug is 1-64 lower-case letters, digits and dashes.", "slug"
        )
    if not new.name.strip() or len(new.name) > 200:
        raise Invalid("invalid_name", "A campaign needs a name of at most 200 characters.", "name")
    if new.period not in ("monthly", "fixed"):
        raise Invalid("invalid_period", "The period is 'monthly' or 'fixed'.", "period")
    if new.goal <= 0:
        raise Invalid("invalid_goal", "The goal must be more than zero.", "goal")


def _check_amounts(
    currency: str, goal: int, milestones: tuple[int, ...], suggested: tuple[int, ...], low: int,
    high: int,
) -> None:  # fmt: skip
    if goal <= 0:
        raise Invalid("invalid_goal", "The goal must be more than zero.", "goal")
    if not milestones or list(milestones) != sorted(set(milestones)) or milestones[0] < 0:
        raise Invalid(
            "invalid_milestones", "Milestones are distinct amounts from low to high.", "milestones"
        )
    if low <= 0 or high < low:
        raise Invalid(
            "invalid_bounds", "The minimum must be above zero and not above the maximum.", "min"
        )
    floor = limits.minimum(currency)
    if low < floor:
        shown = money.format_money(floor, currency, exact=True)
        raise Invalid(
            "below_card_minimum",
            f"The smallest gift must be at least {shown}: card payments in {currency} "
            "cannot be smaller.",
            "min",
        )
    if not suggested or any(not low <= a <= high for a in suggested) or len(suggested) > 8:
        raise Invalid(
            "invalid_suggested",
            "Suggest one to eight amounts, each within the minimum and maximum.",
            "suggested_amounts",
        )
    step = limits.step(currency)
    if any(a % step for a in suggested):
        shown = money.format_money(step, currency, exact=True)
        raise Invalid(
            "invalid_suggested",
            f"Card payments in {currency} go in steps of {shown}: suggest amounts that do.",
            "suggested_amounts",
        )


def _defaults(currency: str) -> tuple[tuple[int, ...], int, int]:
    """Suggested amounts, minimum and maximum when the publisher gives none: 5, 10, 25 and 50
    everyday units from 2 to 10,000, scaled by ten until the card minimum fits (HUF, CZK)."""
    unit = _unit(currency)
    while 2 * unit < limits.minimum(currency):
        unit *= 10
    return tuple(n * unit for n in (5, 10, 25, 50)), 2 * unit, 10_000 * unit


def _range(new: NewCampaign, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime | None]:
    if new.period == "monthly":
        first = new.start or now.astimezone(tz).date()
        starts_at = _month_start(first.year, first.month, tz)
        ends_at = None
        if new.end is not None:
            ends_at = _month_start(*_next_month(new.end.year, new.end.month), tz)
        return starts_at, ends_at
    if new.start is None or new.end is None:
        raise Invalid("missing_dates", "A fixed campaign needs a first and a last day.", "end")
    starts_at = datetime(new.start.year, new.start.month, new.start.day, tzinfo=tz)
    after = new.end + timedelta(days=1)
    ends_at = datetime(after.year, after.month, after.day, tzinfo=tz)
    return starts_at.astimezone(UTC), ends_at.astimezone(UTC)


def _joined(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)


def _split(text: str | None) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",")) if text else ()


def _goal(goal: int, milestones: str | None) -> Goal:
    return Goal(goal, _split(milestones) or default_milestones(goal))


def from_row(row: Any) -> Campaign:
    return Campaign(
        id=row.id, slug=row.slug, name=row.name, description=row.description,
        period=row.period, currency=row.currency, goal=row.goal,
        milestones=_split(row.milestones) or default_milestones(row.goal),
        suggested_amounts=_split(row.suggested_amounts), min_amount=row.min_amount,
        max_amount=row.max_amount, supporter_wall=row.supporter_wall,
        starts_at=row.starts_at, ends_at=row.ends_at,
    )  # fmt: skip


# -- queries


def load(conn: Connection, slug: str) -> Campaign:
    row = conn.execute(sa.select(campaigns).where(campaigns.c.slug == slug)).first()
    if row is None:
        raise NotFound("no_such_campaign", f"There is no campaign {slug!r}.", "campaign")
    return from_row(row)


def load_by_id(conn: Connection, campaign_id: int) -> Campaign:
    return from_row(conn.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id)).one())


def all_campaigns(conn: Connection) -> list[Campaign]:
    rows = conn.execute(sa.select(campaigns).order_by(campaigns.c.starts_at.desc(), campaigns.c.id))
    return [from_row(r) for r in rows]


def featured(conn: Connection, now: datetime, preferred: str = "") -> Campaign | None:
    """The campaign pages show: the configured one; else the newest open one; else the one
    that ended last."""
    if preferred:
        row = conn.execute(sa.select(campaigns).where(campaigns.c.slug == preferred)).first()
        return from_row(row) if row is not None else None
    found = [c for c in all_campaigns(conn) if c.starts_at <= now]
    open_ = [c for c in found if c.is_open(now)]
    if open_:
        return open_[0]
    ended = sorted(found, key=lambda c: c.ends_at or now, reverse=True)
    return ended[0] if ended else None


def goals(conn: Connection, campaign: Campaign) -> list[tuple[datetime, Goal]]:
    """The campaign's goals, each with the start of the first period it is for, oldest
    first."""
    rows = conn.execute(
        sa.select(campaign_goals.c.effective_from, campaign_goals.c.goal,
                  campaign_goals.c.milestones)
        .where(campaign_goals.c.campaign_id == campaign.id)
        .order_by(campaign_goals.c.effective_from)
    )  # fmt: skip
    return [(r.effective_from, _goal(r.goal, r.milestones)) for r in rows]


def goal_at(history: list[tuple[datetime, Goal]], campaign: Campaign, period: Period) -> Goal:
    """The goal of ``period``: the latest one effective at its start. (A campaign restored
    from an archive made before goals were kept per period has none: its current goal.)"""
    found = [goal for since, goal in history if since <= period.starts_at]
    if found:
        return found[-1]
    return history[0][1] if history else Goal(campaign.goal, campaign.milestones)


def goal_of(conn: Connection, campaign: Campaign, period: Period) -> Goal:
    return goal_at(goals(conn, campaign), campaign, period)


def totals(conn: Connection, campaign_id: int, key: str) -> tuple[int, int]:
    """(raised, donations) of one period from the cached totals."""
    row = conn.execute(
        sa.select(campaign_totals.c.raised, campaign_totals.c.donations).where(
            campaign_totals.c.campaign_id == campaign_id, campaign_totals.c.period_key == key
        )
    ).first()
    return (row.raised, row.donations) if row is not None else (0, 0)


# -- writes


def create_in(conn: Connection, new: NewCampaign, *, tz: ZoneInfo, now: datetime) -> Campaign:
    _check(new)
    code = _currency(new.currency)
    default_suggested, default_low, default_high = _defaults(code)
    milestones = new.milestones or default_milestones(new.goal)
    suggested = new.suggested_amounts or default_suggested
    low = new.min_amount if new.min_amount is not None else default_low
    high = new.max_amount if new.max_amount is not None else default_high
    _check_amounts(code, new.goal, milestones, suggested, low, high)
    starts_at, ends_at = _range(new, tz, now)
    if ends_at is not None and ends_at <= starts_at:
        raise Invalid("invalid_dates", "The campaign must end after it starts.", "end")
    if conn.execute(sa.select(campaigns.c.id).where(campaigns.c.slug == new.slug)).first():
        raise Conflict("campaign_exists", f"A campaign {new.slug!r} exists already.", "slug")
    conn.execute(
        campaigns.insert().values(
            slug=new.slug, name=new.name.strip(), description=new.description.strip(),
            period=new.period, currency=code, goal=new.goal,
            milestones=None if new.milestones is None else _joined(milestones),
            suggested_amounts=_joined(suggested), min_amount=low, max_amount=high,
            supporter_wall=new.supporter_wall, starts_at=starts_at, ends_at=ends_at,
            created_at=now, updated_at=now,
        )
    )  # fmt: skip
    made = load(conn, new.slug)
    _set_goal(conn, made, starts_at, now)
    return made


def _set_goal(conn: Connection, campaign: Campaign, since: datetime, now: datetime) -> None:
    """The campaign's goal and ticks hold from ``since`` on (earlier periods keep theirs)."""
    stored = (
        None if campaign.milestones == default_milestones(campaign.goal)
        else _joined(campaign.milestones)
    )  # fmt: skip
    conn.execute(
        sa.delete(campaign_goals).where(
            campaign_goals.c.campaign_id == campaign.id, campaign_goals.c.effective_from >= since
        )
    )
    conn.execute(
        campaign_goals.insert().values(
            campaign_id=campaign.id, effective_from=since, goal=campaign.goal,
            milestones=stored, created_at=now,
        )
    )  # fmt: skip


def _currency(code: str) -> str:
    try:
        return money.currency(code)
    except money.MoneyError as exc:
        raise Invalid("invalid_currency", str(exc), "currency") from None


def update_in(
    conn: Connection, slug: str, change: CampaignUpdate, *, tz: ZoneInfo, now: datetime
) -> Campaign:
    current = load(conn, slug)
    goal = change.goal if change.goal is not None else current.goal
    milestones = change.milestones or current.milestones
    if change.default_milestones or (change.goal is not None and change.milestones is None):
        milestones = default_milestones(goal)
    stored_milestones = None if milestones == default_milestones(goal) else _joined(milestones)
    updated = replace(
        current,
        goal=goal,
        milestones=milestones,
        suggested_amounts=change.suggested_amounts or current.suggested_amounts,
        min_amount=change.min_amount if change.min_amount is not None else current.min_amount,
        max_amount=change.max_amount if change.max_amount is not None else current.max_amount,
    )
    _check_amounts(
        current.currency, updated.goal, updated.milestones, updated.suggested_amounts,
        updated.min_amount, updated.max_amount,
    )  # fmt: skip
    values: dict[str, Any] = {
        "goal": updated.goal, "milestones": stored_milestones,
        "suggested_amounts": _joined(updated.suggested_amounts),
        "min_amount": updated.min_amount, "max_amount": updated.max_amount, "updated_at": now,
    }  # fmt: skip
    if change.name is not None:
        if not change.name.strip():
            raise Invalid("invalid_name", "A campaign needs a name.", "name")
        values["name"] = change.name.strip()
    if change.description is not None:
        values["description"] = change.description.strip()
    if change.supporter_wall is not None:
        values["supporter_wall"] = change.supporter_wall
    if change.open_ended:
        if current.period == "fixed":
            raise Invalid("missing_dates", "A fixed campaign needs a last day.", "end")
        values["ends_at"] = None
    elif change.end is not None:
        values["ends_at"] = _range(
            NewCampaign(slug, current.name, current.currency, goal, current.period,
                        current.starts_at.astimezone(tz).date(), change.end), tz, now,
        )[1]  # fmt: skip
        if values["ends_at"] is not None and values["ends_at"] <= current.starts_at:
            raise Invalid("invalid_dates", "The campaign must end after it starts.", "end")
    conn.execute(sa.update(campaigns).where(campaigns.c.id == current.id).values(**values))
    made = load(conn, slug)
    if (made.goal, made.milestones) != (current.goal, current.milestones):
        # from the period shown now on; the periods before keep the goal they had
        _set_goal(conn, made, current_period(made, now, tz).starts_at, now)
    return made


# -- the same, for async callers


async def create(kb: Kibitz, new: NewCampaign, now: datetime | None = None) -> Campaign:
    tz = zone(kb.settings.time_zone)
    made = await kb.db.write(lambda conn: create_in(conn, new, tz=tz, now=now or utcnow()))
    invalidate(kb, made.slug)
    return made


async def update(
    kb: Kibitz, slug: str, change: CampaignUpdate, now: datetime | None = None
) -> Campaign:
    tz = zone(kb.settings.time_zone)
    made = await kb.db.write(lambda conn: update_in(conn, slug, change, tz=tz, now=now or utcnow()))
    invalidate(kb, slug)
    return made


async def get(kb: Kibitz, slug: str) -> Campaign:
    return await kb.db.read(lambda conn: load(conn, slug))


async def list_all(kb: Kibitz) -> list[Campaign]:
    return await kb.db.read(all_campaigns)


FEATURED_SCOPE = "funding"


def scope(slug: str) -> str:
    """The cache scope of everything shown about a campaign."""
    return f"funding:{slug}"


def invalidate(kb: Kibitz, slug: str) -> None:
    """Drop what is cached about a campaign (and about whichever campaign is featured)."""
    kb.cache.invalidate(scope(slug))
    kb.cache.invalidate(FEATURED_SCOPE)
