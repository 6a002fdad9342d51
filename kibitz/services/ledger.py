"""The donations ledger: append-only entries, and the counting rule every total follows.

The counting rule
-----------------
A campaign period's total is the sum of ``counted_amount`` over its entries:

* every succeeded **donation** in the period adds its amount (a payment that is still
  processing or that failed is not in the ledger at all: only webhooks that report money
  received write a donation);
* every **refund** and **chargeback** subtracts what it gave back. It counts in the period of
  the donation it reverses, so a June gift refunded in July lowers June's total, never July's,
  and together the reversals of a donation never exceed it;
* every manual **adjustment** adds or subtracts its own signed amount in its own period.

An entry in another currency than the campaign's is converted once, when it is recorded, at
the rate written on the entry (``fx_rate``); a refund or chargeback reuses the rate of the
donation it reverses, so reversing a gift in full always takes back exactly what it added.
Nothing is ever summed across currencies.

Entries are never changed or deleted (the database refuses it: see ``LEDGER_GUARDS``). A
mistake is put right with a new entry. The one exception is a donor's erasure
(``redact_donor``): the message and public name they wrote are taken out, the money stays.
The per-period totals are cached in ``campaign_totals`` in the same transaction as each
entry; ``kibitz check`` recomputes them from the ledger and reports any drift, ``kibitz
funding recount`` repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from kibitz import money
from kibitz.db.tables import campaign_totals, campaigns, donors, ledger
from kibitz.services.addresses import email_key
from kibitz.services.campaigns import Campaign, load_by_id, period_key
from kibitz.services.errors import Invalid, NotFound

KINDS = ("donation", "refund", "chargeback", "adjustment")
REVERSALS = ("refund", "chargeback")
METHODS = ("card", "bank_transfer", "paypal", "crypto", "cash", "cheque", "other")


@dataclass(frozen=True)
class NewEntry:
    """One line of the ledger. ``amount`` is in minor units of ``currency``, positive for a
    donation and for a refund or chargeback (the ledger stores those negated), signed for an
    adjustment."""

    kind: str
    amount: int
    currency: str
    occurred_at: datetime
    source: str = "manual"
    method: str | None = None
    frequency: str = "one_time"
    donor_email: str | None = None
    donor_name: str | None = None
    public_name: str | None = None
    message: str | None = None
    fx_rate: str | None = None
    reverses_id: int | None = None
    provider_ref: str | None = None
    provider_payment_id: str | None = None
    provider_charge_id: str | None = None
    provider_invoice_id: str | None = None
    provider_subscription_id: str | None = None
    provider_customer_id: str | None = None
    note: str | None = None
    # an adjustment may count in another period than its own date (a correction of June)
    counts_at: datetime | None = None


@dataclass(frozen=True)
class Entry:
    id: int
    campaign_id: int
    kind: str
    amount: int
    currency: str
    fx_rate: str | None
    counted_amount: int
    counted_currency: str
    counts_at: datetime
    occurred_at: datetime
    source: str
    method: str | None
    frequency: str
    donor_id: int | None
    donor_email: str | None
    donor_name: str | None
    public_name: str | None
    message: str | None
    reverses_id: int | None
    provider_ref: str | None
    provider_payment_id: str | None
    provider_charge_id: str | None
    provider_subscription_id: str | None
    provider_customer_id: str | None
    note: str | None


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id, campaign_id=row.campaign_id, kind=row.kind, amount=row.amount,
        currency=row.currency, fx_rate=row.fx_rate, counted_amount=row.counted_amount,
        counted_currency=row.counted_currency, counts_at=row.counts_at,
        occurred_at=row.occurred_at, source=row.source, method=row.method,
        frequency=row.frequency, donor_id=row.donor_id, donor_email=row.email, donor_name=row.name,
        public_name=row.public_name, message=row.message, reverses_id=row.reverses_id,
        provider_ref=row.provider_ref, provider_payment_id=row.provider_payment_id,
        provider_charge_id=row.provider_charge_id,
        provider_subscription_id=row.provider_subscription_id,
        provider_customer_id=row.provider_customer_id, note=row.note,
    )  # fmt: skip


def _select() -> sa.Select[Any]:
    return sa.select(ledger, donors.c.email, donors.c.name).select_from(
        ledger.outerjoin(donors, donors.c.id == ledger.c.donor_id)
    )


def get(conn: Connection, entry_id: int) -> Entry:
    row = conn.execute(_select().where(ledger.c.id == entry_id)).first()
    if row is None:
        raise NotFound("no_such_entry", f"There is no ledger entry {entry_id}.", "reverses")
    return _entry(row)


def by_provider(conn: Connection, *, payment: str | None, charge: str | None) -> Entry | None:
    """The donation a provider's payment or charge id belongs to."""
    ids = [(ledger.c.provider_payment_id, payment), (ledger.c.provider_charge_id, charge)]
    for column, value in ids:
        if value:
            row = conn.execute(
                _select().where(column == value, ledger.c.kind == "donation").limit(1)
            ).first()
            if row is not None:
                return _entry(row)
    return None


def by_ref(conn: Connection, ref: str) -> Entry | None:
    row = conn.execute(_select().where(ledger.c.provider_ref == ref)).first()
    return _entry(row) if row is not None else None


def reversed_so_far(conn: Connection, donation_id: int, kinds: tuple[str, ...] = REVERSALS) -> int:
    """What refunds and chargebacks of a donation gave back so far (positive, its currency)."""
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.amount), 0)).where(
            ledger.c.reverses_id == donation_id, ledger.c.kind.in_(kinds)
        )
    ).scalar_one()
    return -int(total)


def redact_donor(conn: Connection, donor_id: int) -> list[tuple[int, int]]:
    """Erasure: take the donor's own words (message, public name) out of their entries, and
    forget who they are. The amounts, dates and references stay, so every total stays what
    it was. Returns (entry id, campaign id) of the donor's entries."""
    mine = ledger.c.donor_id == donor_id
    entries = [
        (int(r.id), int(r.campaign_id))
        for r in conn.execute(sa.select(ledger.c.id, ledger.c.campaign_id).where(mine))
    ]
    # the only UPDATE the ledger's trigger lets through: these three columns, to these values
    conn.execute(
        sa.update(ledger)
        .where(mine, sa.or_(ledger.c.message.is_not(None), ledger.c.public_name.is_not(None)))
        .values(message=None, public_name=None, display="anonymous")
    )
    conn.execute(
        sa.update(donors)
        .where(donors.c.id == donor_id)
        .values(email=None, email_key=None, name=None)
    )
    return entries


def _insert(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert, or do nothing when an entry with the same provider_ref exists."""
    if values.get("provider_ref") is None:
        return int(
            conn.execute(ledger.insert().values(**values).returning(ledger.c.id)).scalar_one()
        )
    insert: Any = (
        postgresql.insert(ledger) if conn.dialect.name == "postgresql" else sqlite.insert(ledger)
    )
    row = conn.execute(
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=["provider_ref"])
        .returning(ledger.c.id)
    ).first()
    return int(row.id) if row is not None else None


def donor_id(conn: Connection, email: str | None, name: str | None, now: datetime) -> int | None:
    """The donor with this address (made on first sight); None for a gift without one. A
    later gift that gives a name updates it: people correct a typo or change their name."""
    key = email_key(email) if email else None
    name = " ".join(name.split())[:200] if name else None
    if key:
        row = conn.execute(sa.select(donors.c.id, donors.c.name).where(donors.c.email_key == key))
        found = row.first()
        if found is not None:
            if name and name != found.name:
                conn.execute(sa.update(donors).where(donors.c.id == found.id).values(name=name))
            return int(found.id)
    elif not name:
        return None
    made = conn.execute(
        donors.insert()
        .values(email=email.strip() if email else None, email_key=key, name=name, created_at=now)
        .returning(donors.c.id)
    ).scalar_one()
    return int(made)


def _check(new: NewEntry, campaign: Campaign) -> None:
    if new.kind not in KINDS:
        raise Invalid("invalid_kind", f"The kind is one of {', '.join(KINDS)}.", "kind")
    if new.frequency not in ("one_time", "monthly"):
        raise Invalid("invalid_frequency", "The frequency is one_time or monthly.", "frequency")
    if new.method is not None and new.method not in METHODS:
        raise Invalid("invalid_method", f"The method is one of {', '.join(METHODS)}.", "method")
    if new.kind == "adjustment":
        if new.amount == 0:
            raise Invalid("invalid_amount", "An adjustment of zero changes nothing.", "amount")
    elif new.amount <= 0:
        raise Invalid("invalid_amount", "The amount must be more than zero.", "amount")
    if (new.kind in REVERSALS) != (new.reverses_id is not None):
        raise Invalid(
            "invalid_reverses",
            "A refund or chargeback names the donation it reverses; nothing else does.",
            "reverses",
        )
    if new.public_name is not None and not 0 < len(new.public_name.strip()) <= 100:
        raise Invalid("invalid_public_name", "A public name has 1-100 characters.", "public_name")
    if new.message is not None and len(new.message) > 500:
        raise Invalid("invalid_message", "A message has at most 500 characters.", "message")
    if new.occurred_at.tzinfo is None:
        raise Invalid("invalid_date", "The date needs a time zone.", "date")
    if new.counts_at is not None and new.kind != "adjustment":
        raise Invalid("invalid_period", "Only an adjustment may count in another period.", "period")
    if campaign.period == "fixed" and new.frequency == "monthly":
        raise Invalid(
            "invalid_frequency", "Monthly gifts belong to monthly campaigns.", "frequency"
        )


def append(
    conn: Connection, campaign: Campaign, new: NewEntry, *, tz: ZoneInfo, now: datetime
) -> int | None:
    """Record one entry and keep the cached total in step, in the caller's transaction.

    Returns the new entry's id, or None when ``provider_ref`` was recorded before.
    """
    _check(new, campaign)
    try:
        code = money.currency(new.currency)
    except money.MoneyError as exc:
        raise Invalid("invalid_currency", str(exc), "currency") from None
    if new.provider_ref is not None and by_ref(conn, new.provider_ref) is not None:
        return None
    sign = -1 if new.kind in REVERSALS else 1
    amount = sign * new.amount
    counts_at = new.counts_at or new.occurred_at
    rate = new.fx_rate
    if new.reverses_id is not None:
        donation = get(conn, new.reverses_id)
        if donation.kind != "donation" or donation.campaign_id != campaign.id:
            raise Invalid(
                "invalid_reverses", "Only a donation of this campaign can be reversed.", "reverses"
            )
        if code != donation.currency:
            raise Invalid(
                "invalid_currency",
                f"A reversal is in its donation's currency ({donation.currency}).",
                "currency",
            )
        left = donation.amount - reversed_so_far(conn, donation.id)
        if new.amount > left:
            shown = money.format_money(left, code, exact=True)
            raise Invalid(
                "exceeds_donation",
                f"Only {shown} of donation {donation.id} is left to reverse.",
                "amount",
            )
        counts_at, rate = donation.counts_at, donation.fx_rate
    if code == campaign.currency:
        rate = None
        counted = amount
    else:
        if rate is None:
            raise Invalid(
                "missing_rate",
                f"An amount in {code} needs the rate to {campaign.currency} it was converted at.",
                "rate",
            )
        try:
            rate = money.parse_rate(rate)
        except money.MoneyError as exc:
            raise Invalid("invalid_rate", str(exc), "rate") from None
        counted = money.convert(amount, code, campaign.currency, rate)
        if new.reverses_id is not None:
            counted = _reverse_counted(conn, new.reverses_id, new.amount, counted)
    display = "name" if new.public_name and new.public_name.strip() else "anonymous"
    entry_id = _insert(
        conn,
        {
            "campaign_id": campaign.id, "kind": new.kind, "amount": amount, "currency": code,
            "fx_rate": rate, "counted_amount": counted, "counted_currency": campaign.currency,
            "counts_at": counts_at, "occurred_at": new.occurred_at, "recorded_at": now,
            "source": new.source, "method": new.method, "frequency": new.frequency,
            "donor_id": donor_id(conn, new.donor_email, new.donor_name, now),
            "display": display,
            "public_name": new.public_name.strip() if display == "name" and new.public_name
            else None,
            "message": (new.message or "").strip() or None,
            "reverses_id": new.reverses_id, "provider_ref": new.provider_ref,
            "provider_payment_id": new.provider_payment_id,
            "provider_charge_id": new.provider_charge_id,
            "provider_invoice_id": new.provider_invoice_id,
            "provider_subscription_id": new.provider_subscription_id,
            "provider_customer_id": new.provider_customer_id, "note": new.note,
        },
    )  # fmt: skip
    if entry_id is not None:
        _add_to_total(conn, campaign, counts_at, counted, new.kind == "donation", tz, now)
    return entry_id


def _reverse_counted(conn: Connection, donation_id: int, amount: int, counted: int) -> int:
    """A reversal that empties its donation takes back exactly what the donation added, even
    where rounding each part separately would leave a minor unit over."""
    donation = get(conn, donation_id)
    if donation.amount - reversed_so_far(conn, donation_id) == amount:
        already = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(ledger.c.counted_amount), 0)).where(
                ledger.c.reverses_id == donation_id
            )
        ).scalar_one()
        return -(donation.counted_amount + int(already))
    return counted


def _add_to_total(
    conn: Connection, campaign: Campaign, counts_at: datetime, counted: int,
    donation: bool, tz: ZoneInfo, now: datetime,
) -> None:  # fmt: skip
    insert: Any = (
        postgresql.insert(campaign_totals)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(campaign_totals)
    )
    stmt = insert.values(
        campaign_id=campaign.id, period_key=period_key(campaign, counts_at, tz),
        raised=counted, donations=int(donation), updated_at=now,
    )  # fmt: skip
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["campaign_id", "period_key"],
            set_={
                "raised": campaign_totals.c.raised + stmt.excluded.raised,
                "donations": campaign_totals.c.donations + stmt.excluded.donations,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


# -- reading the ledger


def entries(
    conn: Connection, campaign_id: int | None = None, *, start: datetime | None = None,
    end: datetime | None = None, limit: int | None = None,
) -> list[Entry]:  # fmt: skip
    query = _select().order_by(ledger.c.id)
    if campaign_id is not None:
        query = query.where(ledger.c.campaign_id == campaign_id)
    if start is not None:
        query = query.where(ledger.c.counts_at >= start)
    if end is not None:
        query = query.where(ledger.c.counts_at < end)
    if limit is not None:
        query = query.order_by(None).order_by(ledger.c.id.desc()).limit(limit)
    return [_entry(r) for r in conn.execute(query)]


def sum_period(conn: Connection, campaign_id: int, start: datetime, end: datetime) -> int:
    """The counting rule straight from the ledger (what the cache must agree with)."""
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.counted_amount), 0)).where(
            ledger.c.campaign_id == campaign_id,
            ledger.c.counts_at >= start,
            ledger.c.counts_at < end,
        )
    ).scalar_one()
    return int(total)


@dataclass(frozen=True)
class Drift:
    campaign: str
    period_key: str
    cached_raised: int
    ledger_raised: int
    cached_donations: int
    ledger_donations: int


def computed_totals(conn: Connection, tz: ZoneInfo) -> dict[tuple[int, str], tuple[int, int]]:
    """Every period's (raised, donations), recomputed from the ledger."""
    known = {c.id: c for c in _campaigns(conn)}
    out: dict[tuple[int, str], tuple[int, int]] = {}
    rows = conn.execute(
        sa.select(ledger.c.campaign_id, ledger.c.counts_at, ledger.c.counted_amount, ledger.c.kind)
    )
    for row in rows:
        key = (row.campaign_id, period_key(known[row.campaign_id], row.counts_at, tz))
        raised, count = out.get(key, (0, 0))
        out[key] = (raised + row.counted_amount, count + (row.kind == "donation"))
    return out


def _campaigns(conn: Connection) -> list[Campaign]:
    return [load_by_id(conn, i) for i in conn.execute(sa.select(campaigns.c.id)).scalars()]


def drift(conn: Connection, tz: ZoneInfo) -> list[Drift]:
    """Cached totals that disagree with the ledger."""
    actual = computed_totals(conn, tz)
    cached = {
        (r.campaign_id, r.period_key): (r.raised, r.donations)
        for r in conn.execute(sa.select(campaign_totals))
    }
    slugs = {r.id: r.slug for r in conn.execute(sa.select(campaigns.c.id, campaigns.c.slug))}
    out = []
    for key in sorted(set(actual) | set(cached)):
        have, want = cached.get(key, (0, 0)), actual.get(key, (0, 0))
        if have != want:
            out.append(Drift(slugs[key[0]], key[1], have[0], want[0], have[1], want[1]))
    return out


def recount(conn: Connection, tz: ZoneInfo, now: datetime) -> list[Drift]:
    """Rewrite the cached totals from the ledger; returns what was wrong."""
    found = drift(conn, tz)
    conn.execute(sa.delete(campaign_totals))
    for (campaign_id, key), (raised, count) in computed_totals(conn, tz).items():
        conn.execute(
            campaign_totals.insert().values(
                campaign_id=campaign_id, period_key=key, raised=raised, donations=count,
                updated_at=now,
            )
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class Supporter:
    public_name: str
    message: str | None
    occurred_at: datetime
    frequency: str


def supporters(
    conn: Connection, campaign_id: int, start: datetime, end: datetime, limit: int = 100
) -> list[Supporter]:
    """Donors who chose to be named, newest first; a gift reversed in full drops out."""
    reversals = (
        sa.select(ledger.c.reverses_id, sa.func.sum(ledger.c.amount).label("back"))
        .where(ledger.c.reverses_id.is_not(None))
        .group_by(ledger.c.reverses_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(ledger.c.public_name, ledger.c.message, ledger.c.occurred_at, ledger.c.frequency)
        .select_from(ledger.outerjoin(reversals, reversals.c.reverses_id == ledger.c.id))
        .where(
            ledger.c.campaign_id == campaign_id,
            ledger.c.kind == "donation",
            ledger.c.display == "name",
            ledger.c.counts_at >= start,
            ledger.c.counts_at < end,
            ledger.c.amount + sa.func.coalesce(reversals.c.back, 0) > 0,
        )
        .order_by(ledger.c.occurred_at.desc(), ledger.c.id.desc())
        .limit(limit)
    )
    return [Supporter(r.public_name, r.message, r.occurred_at, r.frequency) for r in rows]
