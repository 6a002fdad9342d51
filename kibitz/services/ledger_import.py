"""Gifts made outside kibitz (bank transfers, PayPal, crypto, cash), imported from CSV.

The file has a header line. Columns (only ``date`` and ``amount`` are required):

``date``        YYYY-MM-DD (that day in the site's time zone) or an ISO time with offset
``amount``      in major units with a '.' for decimals: ``25``, ``25.50``, ``1,000``
``currency``    ISO 4217; default: the campaign's
``rate``        units of the campaign's currency per unit of ``currency`` (needed if they differ)
``kind``        donation (default), refund, chargeback or adjustment (signed amount)
``reverses``    for a refund or chargeback: the ``reference`` of its donation, or ``#<entry id>``
``method``      card, bank_transfer, paypal, crypto, cash, cheque, other
``frequency``   one_time (default) or monthly
``name``, ``email``                 the donor, private
``public_name``, ``message``        shown on the supporter wall (a public name opts in)
``reference``   your id for the line: importing it again adds nothing
``note``        private

Every line is checked and recorded on its own (a bad line never stops the good ones), in one
transaction; ``dry_run`` checks everything the same way and then records nothing. A line
without a ``reference`` is recognised by its content, so importing the same file twice adds
nothing either (two identical lines in one file are two gifts).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from kibitz import money
from kibitz.context import Kibitz
from kibitz.services import audit, ledger
from kibitz.services import campaigns as camp
from kibitz.services.addresses import check_email
from kibitz.services.errors import Invalid, ServiceError

COLUMNS = (
    "date", "amount", "currency", "rate", "kind", "reverses", "method", "frequency", "name",
    "email", "public_name", "message", "reference", "note",
)  # fmt: skip
MAX_LINES = 50_000


@dataclass
class ImportReport:
    dry_run: bool
    added: int = 0
    already: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # what the added lines add to each period's total, in the campaign's minor units
    by_period: dict[str, int] = field(default_factory=dict)
    currency: str = ""


class _DryRun(Exception):
    def __init__(self, report: ImportReport) -> None:
        self.report = report


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("invalid_date", f"date: {text!r} is not YYYY-MM-DD", "date") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.astimezone(UTC)


def _ref(slug: str, row: dict[str, str], seen: Counter[str]) -> str:
    if row.get("reference"):
        return f"csv:{slug}:{row['reference']}"
    content = "\x1f".join(row.get(c, "") for c in COLUMNS)
    seen[content] += 1
    digest = hashlib.sha256(f"{content}\x1e{seen[content]}".encode()).hexdigest()[:32]
    return f"csv:{slug}:#{digest}"


def _reverses(conn: Connection, slug: str, value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if value.startswith("#") and value[1:].isdigit():
        return int(value[1:])
    found = ledger.by_ref(conn, f"csv:{slug}:{value}")
    if found is None:
        raise Invalid("unknown_reverses", f"reverses: no donation with reference {value!r}")
    return found.id


def _entry(
    conn: Connection, campaign: camp.Campaign, row: dict[str, str], ref: str, tz: ZoneInfo
) -> ledger.NewEntry:
    currency = (row.get("currency") or campaign.currency).strip()
    kind = (row.get("kind") or "donation").strip().lower()
    try:
        amount = money.parse_amount(row.get("amount", ""), currency, allow_negative=True)
    except money.MoneyError as exc:
        raise Invalid("invalid_amount", f"amount: {exc}") from None
    if kind != "adjustment" and amount < 0:
        raise Invalid("invalid_amount", "amount: only an adjustment may be negative")
    email = check_email(row.get("email"), "email")
    return ledger.NewEntry(
        kind=kind, amount=amount, currency=currency,
        occurred_at=parse_when(row.get("date", ""), tz),
        source="csv", method=(row.get("method") or "").strip().lower() or None,
        frequency=(row.get("frequency") or "one_time").strip().lower(),
        donor_email=email, donor_name=(row.get("name") or "").strip() or None,
        public_name=(row.get("public_name") or "").strip() or None,
        message=(row.get("message") or "").strip() or None,
        fx_rate=(row.get("rate") or "").strip() or None,
        reverses_id=_reverses(conn, campaign.slug, row.get("reverses", "")),
        provider_ref=ref, note=(row.get("note") or "").strip() or None,
    )  # fmt: skip


def read_rows(text: str) -> list[dict[str, str]]:
    text = text.lstrip("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text.split("\n", 1)[0], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("date", "amount") if c not in header]
    if missing:
        raise Invalid("invalid_csv", f"The header needs the columns {', '.join(missing)}.")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise Invalid(
            "invalid_csv",
            f"Unknown columns: {', '.join(unknown)}. Known: {', '.join(COLUMNS)}.",
        )
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    for row in reader:
        if len(rows) >= MAX_LINES:
            raise Invalid("invalid_csv", f"At most {MAX_LINES} lines per file.")
        rows.append({k: (v or "") for k, v in row.items() if k is not None})
    return rows


def import_in(
    conn: Connection, slug: str, rows: list[dict[str, str]], *, tz: ZoneInfo, now: datetime,
    dry_run: bool, actor: audit.Actor | None = None,
) -> ImportReport:  # fmt: skip
    campaign = camp.load(conn, slug)
    report = ImportReport(dry_run=dry_run, currency=campaign.currency)
    seen: Counter[str] = Counter()
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        if not any(v.strip() for v in row.values()):
            continue
        ref = _ref(slug, row, seen)
        savepoint = conn.begin_nested()
        try:
            new = _entry(conn, campaign, row, ref, tz)
            added = ledger.append(conn, campaign, new, tz=tz, now=now)
        except ServiceError as exc:
            savepoint.rollback()
            report.rejected.append((number, exc.message))
            continue
        except IntegrityError as exc:  # a rule only the database states
            savepoint.rollback()
            report.rejected.append((number, f"refused by the database: {exc.orig}"))
            continue
        savepoint.commit()
        if added is None:
            report.already += 1
            continue
        report.added += 1
        entry = ledger.get(conn, added)
        key = camp.period_key(campaign, entry.counts_at, tz)
        report.by_period[key] = report.by_period.get(key, 0) + entry.counted_amount
    if dry_run:
        raise _DryRun(report)
    if actor is not None and report.added:
        audit.record(conn, actor, "import_ledger_csv", f"campaign:{slug}", now=now, after={
            "added": report.added, "already": report.already, "rejected": len(report.rejected),
            "by_period": {k: str(money.to_decimal(v, report.currency))
                          for k, v in sorted(report.by_period.items())},
        })  # fmt: skip
    return report


async def import_csv(
    kb: Kibitz, slug: str, text: str, *, dry_run: bool = False, now: datetime | None = None,
    actor: audit.Actor | None = None,
) -> ImportReport:  # fmt: skip
    rows = read_rows(text)
    tz = camp.zone(kb.settings.time_zone)
    when = now or datetime.now(UTC)
    try:
        report = await kb.db.write(
            lambda conn: import_in(conn, slug, rows, tz=tz, now=when, dry_run=dry_run, actor=actor)
        )
    except _DryRun as stop:
        return stop.report
    if report.added:
        camp.invalidate(kb, slug)
    return report
