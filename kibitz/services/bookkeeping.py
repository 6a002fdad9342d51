"""The publisher's own funding work, for the dashboard and the command line alike: campaigns
made and changed, gifts recorded by hand (bank transfers, PayPal, crypto, cash), refunds,
chargebacks and adjustments, the ledger's health and its recount.

Input comes as people type it (strings, amounts in major units); every write is one
transaction that also writes the audit log, and what is cached about the campaign is dropped
once it commits. The audit log says what changed in the ledger but never who the donor is:
moderators read the audit log, and donors' names and addresses are for admins only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from kibitz import money
from kibitz.context import Kibitz
from kibitz.services import audit, donations, ledger
from kibitz.services import campaigns as camp
from kibitz.services.addresses import check_email
from kibitz.services.errors import Invalid
from kibitz.services.ledger_import import parse_when

# provider events still waiting for their payment after this long are shown
UNMATCHED_AFTER = timedelta(days=1)


def now() -> datetime:
    return datetime.now(UTC)


# -- what people type


def amount(text: str, currency: str, field: str, *, signed: bool = False) -> int:
    """'1,250.50' in major units to minor units of ``currency``."""
    try:
        return money.parse_amount(text, currency, allow_negative=signed)
    except money.MoneyError as exc:
        raise Invalid("invalid_amount", f"{field}: {exc}", field) from None


def amounts(text: str | None, currency: str, field: str) -> tuple[int, ...] | None:
    """'5, 10, 25' to minor units; None when empty."""
    if not text or not text.strip():
        return None
    return tuple(amount(part, currency, field) for part in text.split(",") if part.strip())


def month_or_day(text: str | None, field: str) -> date | None:
    """'2021-06' (its first day) or '2021-06-15'; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text + "-01") if len(text) == 7 else date.fromisoformat(text)
    except ValueError:
        raise Invalid("invalid_date", f"{text!r} is not YYYY-MM (or YYYY-MM-DD).", field) from None


def currency_code(text: str) -> str:
    try:
        return money.currency(text)
    except money.MoneyError as exc:
        raise Invalid("invalid_currency", str(exc), "currency") from None


@dataclass(frozen=True)
class CampaignForm:
    """A campaign as the publisher types it: amounts in major units, months as YYYY-MM
    (days as YYYY-MM-DD for a fixed campaign), lists comma-separated."""

    name: str
    goal: str
    currency: str = ""
    slug: str = ""
    fixed: bool = False
    start: str = ""
    end: str = ""
    milestones: str = ""
    suggested: str = ""
    min_amount: str = ""
    max_amount: str = ""
    description: str = ""
    supporter_wall: bool = True


def new_campaign(form: CampaignForm) -> camp.NewCampaign:
    code = currency_code(form.currency)
    return camp.NewCampaign(
        slug=form.slug.strip(), name=form.name, currency=code,
        goal=amount(form.goal, code, "goal"), period="fixed" if form.fixed else "monthly",
        start=month_or_day(form.start, "start"), end=month_or_day(form.end, "end"),
        milestones=amounts(form.milestones, code, "milestones"),
        suggested_amounts=amounts(form.suggested, code, "suggested_amounts"),
        min_amount=amount(form.min_amount, code, "min") if form.min_amount.strip() else None,
        max_amount=amount(form.max_amount, code, "max") if form.max_amount.strip() else None,
        description=form.description, supporter_wall=form.supporter_wall,
    )  # fmt: skip


def campaign_update(current: camp.Campaign, form: CampaignForm) -> camp.CampaignUpdate:
    """Every field of the edit form, as it is now: an empty end makes a monthly campaign open
    ended, milestones equal to the default ones follow the goal from then on."""
    code = current.currency
    goal = amount(form.goal, code, "goal")
    milestones = amounts(form.milestones, code, "milestones")
    default = milestones is None or milestones == camp.default_milestones(goal)
    end = month_or_day(form.end, "end")
    return camp.CampaignUpdate(
        name=form.name, description=form.description, goal=goal,
        milestones=None if default else milestones, default_milestones=default,
        suggested_amounts=amounts(form.suggested, code, "suggested_amounts"),
        min_amount=amount(form.min_amount, code, "min") if form.min_amount.strip() else None,
        max_amount=amount(form.max_amount, code, "max") if form.max_amount.strip() else None,
        supporter_wall=form.supporter_wall, end=end,
        open_ended=end is None and current.period == "monthly",
    )  # fmt: skip


@dataclass(frozen=True)
class ManualEntry:
    """A ledger line as a person types it (the dashboard's form, ``kibitz ledger add``)."""

    amount: str  # major units; an adjustment may be negative
    kind: str = "donation"
    currency: str = ""  # default: the campaign's
    rate: str = ""  # units of the campaign's currency per unit of ``currency``
    date: str = ""  # YYYY-MM-DD (that day in the site's time zone) or an ISO time; default now
    method: str = ""
    monthly: bool = False
    name: str = ""  # the donor, private
    email: str = ""
    public_name: str = ""  # empty: anonymous
    message: str = ""
    reverses: int | None = None  # a refund's or chargeback's donation
    period: str = ""  # an adjustment's month (YYYY-MM), when it corrects another
    reference: str = ""  # recording the same reference again adds nothing
    note: str = ""  # private


def _text(value: str) -> str | None:
    return value.strip() or None


def entry_of(campaign: camp.Campaign, form: ManualEntry, tz: Any, at: datetime) -> ledger.NewEntry:
    """The ledger entry a form describes (every check of ``ledger.append`` follows)."""
    code = currency_code(form.currency or campaign.currency)
    counts_at = None
    if form.period.strip():
        if form.kind != "adjustment":
            raise Invalid("invalid_period", "Only an adjustment may count in another month.",
                          "period")  # fmt: skip
        counts_at = camp.month(form.period.strip(), tz).starts_at
    return ledger.NewEntry(
        kind=form.kind, currency=code,
        amount=amount(form.amount, code, "amount", signed=form.kind == "adjustment"),
        occurred_at=parse_when(form.date, tz) if form.date.strip() else at,
        source="manual", method=_text(form.method), frequency="monthly" if form.monthly
        else "one_time", donor_email=check_email(form.email, "email"),
        donor_name=_text(form.name), public_name=_text(form.public_name),
        message=_text(form.message), fx_rate=_text(form.rate), reverses_id=form.reverses,
        note=_text(form.note), counts_at=counts_at,
        provider_ref=f"manual:{campaign.slug}:{form.reference.strip()}"
        if form.reference.strip() else None,
    )  # fmt: skip


def _entry_summary(entry: ledger.Entry) -> dict[str, Any]:
    """What the audit log keeps of an entry: the money, never the donor."""
    return {
        "kind": entry.kind, "amount": str(money.to_decimal(entry.amount, entry.currency)),
        "currency": entry.currency, "rate": entry.fx_rate,
        "counted": str(money.to_decimal(entry.counted_amount, entry.counted_currency)),
        "method": entry.method, "frequency": entry.frequency, "reverses": entry.reverses_id,
        "counts_at": entry.counts_at.isoformat(), "public_name": entry.public_name,
    }  # fmt: skip


def _campaign_summary(c: camp.Campaign) -> dict[str, Any]:
    data = asdict(c)
    data.pop("id")
    data.pop("description")
    return data


# -- writes, each with its audit-log line


async def record(
    kb: Kibitz, actor: audit.Actor, slug: str, form: ManualEntry, at: datetime | None = None
) -> int | None:
    """Record an entry; None when its reference was recorded before (nothing changes)."""
    when = at or now()
    tz = camp.zone(kb.settings.time_zone)

    def tx(conn: Connection) -> int | None:
        campaign = camp.load(conn, slug)
        new = entry_of(campaign, form, tz, when)
        made = ledger.append(conn, campaign, new, tz=tz, now=when)
        if made is not None:
            audit.record(conn, actor, f"ledger_{new.kind}", f"ledger:{made}",
                         after={"campaign": slug, **_entry_summary(ledger.get(conn, made))},
                         now=when)  # fmt: skip
        return made

    made = await kb.db.write(tx)
    camp.invalidate(kb, slug)
    return made


async def create_campaign(
    kb: Kibitz, actor: audit.Actor, new: camp.NewCampaign, at: datetime | None = None
) -> camp.Campaign:
    when = at or now()
    tz = camp.zone(kb.settings.time_zone)

    def tx(conn: Connection) -> camp.Campaign:
        made = camp.create_in(conn, new, tz=tz, now=when)
        audit.record(conn, actor, "create_campaign", f"campaign:{made.slug}",
                     after=_campaign_summary(made), now=when)  # fmt: skip
        return made

    made = await kb.db.write(tx)
    camp.invalidate(kb, made.slug)
    return made


async def update_campaign(
    kb: Kibitz, actor: audit.Actor, slug: str, change: camp.CampaignUpdate,
    at: datetime | None = None,
) -> camp.Campaign:  # fmt: skip
    when = at or now()
    tz = camp.zone(kb.settings.time_zone)

    def tx(conn: Connection) -> camp.Campaign:
        before = camp.load(conn, slug)
        made = camp.update_in(conn, slug, change, tz=tz, now=when)
        old, new = _campaign_summary(before), _campaign_summary(made)
        changed = sorted(k for k in new if new[k] != old[k])
        if before.description != made.description:
            changed.append("description")
        if changed:
            audit.record(conn, actor, "update_campaign", f"campaign:{slug}",
                         before={k: old.get(k) for k in changed if k in old},
                         after={k: new.get(k) for k in changed if k in new}, now=when)  # fmt: skip
        return made

    made = await kb.db.write(tx)
    camp.invalidate(kb, slug)
    return made


async def recount(kb: Kibitz, actor: audit.Actor, at: datetime | None = None) -> list[ledger.Drift]:
    """Rewrite every cached total from the ledger; returns what was wrong."""
    when = at or now()
    tz = camp.zone(kb.settings.time_zone)

    def tx(conn: Connection) -> list[ledger.Drift]:
        fixed = ledger.recount(conn, tz, when)
        audit.record(conn, actor, "recount_totals", "funding",
                     before={f"{d.campaign} {d.period_key}": d.cached_raised for d in fixed},
                     after={f"{d.campaign} {d.period_key}": d.ledger_raised for d in fixed},
                     now=when)  # fmt: skip
        return fixed

    fixed = await kb.db.write(tx)
    for slug in {d.campaign for d in fixed}:
        camp.invalidate(kb, slug)
    return fixed


async def note_export(kb: Kibitz, actor: audit.Actor, what: str, target: str) -> None:
    """Downloads of private data are logged too: who took the donors' details, and when."""
    await kb.db.write(lambda conn: audit.record(conn, actor, what, target))


# -- reading


@dataclass(frozen=True)
class Health:
    drift: list[ledger.Drift]
    # provider events (id, type, received) that match no payment after a day
    unmatched: list[tuple[str, str, datetime]]
    # provider events whose money kibitz could not record: a person must look
    attention: list[donations.NeedsAttention]

    @property
    def healthy(self) -> bool:
        return not self.drift and not self.attention


async def health(kb: Kibitz, at: datetime | None = None) -> Health:
    """What `kibitz check` says of funding: cached totals against the ledger, payment events
    kibitz could not record, and those still waiting for their payment."""
    tz = camp.zone(kb.settings.time_zone)
    older = (at or now()) - UNMATCHED_AFTER
    return await kb.db.read(
        lambda conn: Health(
            ledger.drift(conn, tz), donations.unmatched(conn, older),
            donations.needing_attention(conn),
        )
    )  # fmt: skip


async def mark_handled(
    kb: Kibitz, actor: audit.Actor, event_id: str, note: str = "", at: datetime | None = None
) -> donations.NeedsAttention:
    """A person put right by hand what a provider event needed; it leaves the health check."""
    when = at or now()

    def tx(conn: Connection) -> donations.NeedsAttention:
        found = donations.mark_handled(conn, event_id.strip())
        audit.record(conn, actor, "provider_event_handled", f"provider_event:{found.event_id}",
                     before={"reason": found.reason}, after={"note": note.strip() or None},
                     now=when)  # fmt: skip
        return found

    return await kb.db.write(tx)


async def entries(
    kb: Kibitz, slug: str, period: str | None = None, limit: int = 200
) -> tuple[camp.Campaign, camp.Period | None, list[ledger.Entry]]:
    """A campaign's entries, newest first: those of one period, or the latest ``limit``."""
    tz = camp.zone(kb.settings.time_zone)

    def read(conn: Connection) -> tuple[camp.Campaign, camp.Period | None, list[ledger.Entry]]:
        campaign = camp.load(conn, slug)
        if period:
            p = camp.period(campaign, period, tz)
            found = ledger.entries(conn, campaign.id, start=p.starts_at, end=p.ends_at)
            return campaign, p, list(reversed(found))
        return campaign, None, ledger.entries(conn, campaign.id, limit=limit)

    return await kb.db.read(read)


async def entry(kb: Kibitz, entry_id: int) -> tuple[ledger.Entry, int]:
    """One entry and, for a donation, how much of it is left to refund (minor units)."""

    def read(conn: Connection) -> tuple[ledger.Entry, int]:
        found = ledger.get(conn, entry_id)
        left = found.amount - ledger.reversed_so_far(conn, found.id)
        return found, left if found.kind == "donation" else 0

    return await kb.db.read(read)
