"""Reader funding from the shell: campaigns, manual ledger entries and CSV imports, reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kibitz.cli.base import main, run
from kibitz.context import Kibitz


def _show(minor: int, currency: str) -> str:
    from kibitz import money

    return money.format_money(minor, currency, exact=True)


@main.group()
def campaign() -> None:
    """Funding campaigns: a goal for each month, or for a range of dates."""


@campaign.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="What readers see, e.g. 'Support SouthFront'.")
@click.option("--goal", required=True, help="The goal in major units, e.g. 5000.")
@click.option("--currency", required=True, help="ISO 4217 code, e.g. USD.")
@click.option("--fixed", is_flag=True, help="One goal for --start..--end (default: monthly).")
@click.option("--start", default=None, help="First month (YYYY-MM) or, with --fixed, first day.")
@click.option("--end", default=None, help="Last month (YYYY-MM) or, with --fixed, last day.")
@click.option("--milestones", default=None, help="Ticks, e.g. 0,2500,5000 (default 0, half, goal).")
@click.option("--suggested", default=None, help="Suggested amounts, e.g. 5,10,25,50.")
@click.option("--min", "low", default=None, help="Smallest gift (card-testing defence).")
@click.option("--max", "high", default=None, help="Largest gift.")
@click.option("--description", default="", help="A paragraph for the campaign page.")
@click.option("--no-wall", is_flag=True, help="Do not show a supporter wall.")
def campaign_create(
    slug: str, name: str, goal: str, currency: str, fixed: bool, start: str | None,
    end: str | None, milestones: str | None, suggested: str | None, low: str | None,
    high: str | None, description: str, no_wall: bool,
) -> None:  # fmt: skip
    """Start a campaign called SLUG (its address: /funding/SLUG)."""
    from kibitz.services import audit, bookkeeping

    form = bookkeeping.CampaignForm(
        slug=slug, name=name, goal=goal, currency=currency, fixed=fixed, start=start or "",
        end=end or "", milestones=milestones or "", suggested=suggested or "",
        min_amount=low or "", max_amount=high or "", description=description,
        supporter_wall=not no_wall,
    )  # fmt: skip

    async def work(kb: Kibitz) -> Any:
        new = bookkeeping.new_campaign(form)
        return await bookkeeping.create_campaign(kb, audit.SYSTEM, new)

    made = run(work)
    click.echo(f"created {made.slug}: {_show(made.goal, made.currency)} {made.period}")


@campaign.command("update")
@click.argument("slug")
@click.option("--name", default=None)
@click.option("--goal", default=None, help="New goal, major units (ticks follow unless given).")
@click.option("--milestones", default=None, help="Ticks, or 'default' for 0, half and goal.")
@click.option("--suggested", default=None)
@click.option("--min", "low", default=None)
@click.option("--max", "high", default=None)
@click.option("--description", default=None)
@click.option("--wall/--no-wall", default=None, help="Show the supporter wall.")
@click.option("--end", default=None, help="Last month (YYYY-MM) or day; 'none' for no end.")
def campaign_update(
    slug: str, name: str | None, goal: str | None, milestones: str | None,
    suggested: str | None, low: str | None, high: str | None, description: str | None,
    wall: bool | None, end: str | None,
) -> None:  # fmt: skip
    """Change a campaign. The ledger is never touched."""
    from kibitz.services import audit, bookkeeping
    from kibitz.services import campaigns as camp

    async def work(kb: Kibitz) -> Any:
        cur = (await camp.get(kb, slug)).currency
        change = camp.CampaignUpdate(
            name=name, description=description,
            goal=bookkeeping.amount(goal, cur, "goal") if goal else None,
            milestones=None if milestones in (None, "default")
            else bookkeeping.amounts(milestones, cur, "milestones"),
            default_milestones=milestones == "default",
            suggested_amounts=bookkeeping.amounts(suggested, cur, "suggested_amounts"),
            min_amount=bookkeeping.amount(low, cur, "min") if low else None,
            max_amount=bookkeeping.amount(high, cur, "max") if high else None,
            supporter_wall=wall, open_ended=end == "none",
            end=None if end in (None, "none") else bookkeeping.month_or_day(end, "end"),
        )  # fmt: skip
        return await bookkeeping.update_campaign(kb, audit.SYSTEM, slug, change)

    made = run(work)
    click.echo(f"updated {made.slug}")


@campaign.command("list")
def campaign_list() -> None:
    """Every campaign with its current period's progress."""
    from kibitz.services import campaigns as camp
    from kibitz.services import funding

    async def work(kb: Kibitz) -> list[Any]:
        return [await funding.bar(kb, c.slug) for c in await camp.list_all(kb)]

    for bar in run(work):
        state = "open" if bar.is_open else "closed"
        click.echo(f"{bar.campaign.slug:<24} {state:<7} {bar.sentence}")


@campaign.command("show")
@click.argument("slug")
@click.option("--period", default=None, help="A month (YYYY-MM); default: the current one.")
def campaign_show(slug: str, period: str | None) -> None:
    """A campaign period's progress and its latest entries."""
    from kibitz.services import funding, ledger

    async def work(kb: Kibitz) -> tuple[Any, list[Any]]:
        bar = await funding.bar(kb, slug, period)
        assert bar is not None
        p = bar.period
        found = await kb.db.read(
            lambda conn: ledger.entries(conn, bar.campaign.id, start=p.starts_at, end=p.ends_at)
        )
        return bar, found

    bar, found = run(work)
    click.echo(f"{bar.campaign.name} ({bar.campaign.slug}), {bar.period_label}")
    click.echo(bar.sentence)
    click.echo(f"{bar.donations} donations, {len(found)} entries")
    for e in found[-20:]:
        _echo_entry(e)


def _echo_entry(e: Any) -> None:
    who = e.public_name or e.donor_name or "anonymous"
    converted = "" if e.fx_rate is None else (
        f" = {_show(e.counted_amount, e.counted_currency)} at {e.fx_rate}")  # fmt: skip
    back = f" (reverses #{e.reverses_id})" if e.reverses_id else ""
    click.echo(
        f"#{e.id:<6} {e.occurred_at:%Y-%m-%d} {e.kind:<10} {_show(e.amount, e.currency):>14}"
        f"{converted}  {e.source}/{e.method or '-'}  {who}{back}"
    )


@main.group("ledger")
def ledger_group() -> None:
    """The donations ledger: manual entries, CSV import and export. Entries are never
    changed or deleted; a correction is a new entry."""


@ledger_group.command("add")
@click.argument("slug")
@click.option("--amount", required=True, help="Major units, e.g. 25.50 (an adjustment may be -).")
@click.option(
    "--kind", type=click.Choice(["donation", "refund", "chargeback", "adjustment"]),
    default="donation", show_default=True,
)  # fmt: skip
@click.option("--currency", default=None, help="Default: the campaign's.")
@click.option("--rate", default=None, help="Campaign currency per unit of --currency.")
@click.option("--date", "when", default=None, help="YYYY-MM-DD or ISO time (default: now).")
@click.option(
    "--method",
    type=click.Choice(["card", "bank_transfer", "paypal", "crypto", "cash", "cheque", "other"]),
    default=None,
)  # fmt: skip
@click.option("--monthly", is_flag=True, help="Part of a monthly gift.")
@click.option("--name", default=None, help="The donor's name (private).")
@click.option("--email", default=None, help="The donor's address (private).")
@click.option("--public-name", default=None, help="Shown on the supporter wall.")
@click.option("--message", default=None, help="Shown with the public name.")
@click.option("--reverses", type=int, default=None, help="Refund/chargeback: the donation's id.")
@click.option("--period", default=None, help="Adjustment: the month (YYYY-MM) it corrects.")
@click.option("--reference", default=None, help="Your id for it: adding it again does nothing.")
@click.option("--note", default=None, help="A private note.")
def ledger_add(
    slug: str, amount: str, kind: str, currency: str | None, rate: str | None, when: str | None,
    method: str | None, monthly: bool, name: str | None, email: str | None,
    public_name: str | None, message: str | None, reverses: int | None, period: str | None,
    reference: str | None, note: str | None,
) -> None:  # fmt: skip
    """Record a gift made outside kibitz (bank transfer, PayPal, crypto, cash), a refund, a
    chargeback or an adjustment."""
    from kibitz.services import audit, bookkeeping

    form = bookkeeping.ManualEntry(
        amount=amount, kind=kind, currency=currency or "", rate=rate or "", date=when or "",
        method=method or "", monthly=monthly, name=name or "", email=email or "",
        public_name=public_name or "", message=message or "", reverses=reverses,
        period=period or "", reference=reference or "", note=note or "",
    )  # fmt: skip
    made = run(lambda kb: bookkeeping.record(kb, audit.SYSTEM, slug, form))
    click.echo(f"recorded entry #{made}" if made else "already recorded (same --reference)")


@ledger_group.command("list")
@click.argument("slug")
@click.option("--period", default=None, help="A month (YYYY-MM); default: every entry.")
@click.option("--limit", default=100, show_default=True)
def ledger_list(slug: str, period: str | None, limit: int) -> None:
    """A campaign's entries, oldest first."""
    from kibitz.services import campaigns as camp
    from kibitz.services import ledger

    async def work(kb: Kibitz) -> list[Any]:
        campaign = await camp.get(kb, slug)
        p = camp.period(campaign, period, camp.zone(kb.settings.time_zone)) if period else None
        found = await kb.db.read(
            lambda conn: ledger.entries(
                conn, campaign.id, start=p.starts_at if p else None, end=p.ends_at if p else None
            )
        )
        return found[-limit:]

    for e in run(work):
        _echo_entry(e)


@ledger_group.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every line and report; record nothing.")
def ledger_import(slug: str, file: Path, dry_run: bool) -> None:
    """Import gifts from a CSV file (columns: date, amount and optionally currency, rate,
    kind, reverses, method, frequency, name, email, public_name, message, reference, note).
    Lines with problems are reported and left out; the rest are recorded."""
    from kibitz.services import ledger_import as imp

    text = file.read_text(encoding="utf-8-sig")
    from kibitz.services import audit

    report = run(lambda kb: imp.import_csv(kb, slug, text, dry_run=dry_run, actor=audit.SYSTEM))
    verb = "would add" if dry_run else "added"
    click.echo(f"{verb} {report.added} entries; {report.already} were imported before; "
               f"{len(report.rejected)} rejected")  # fmt: skip
    for key, total in sorted(report.by_period.items()):
        click.echo(f"  {key}: {'+' if total >= 0 else ''}{_show(total, report.currency)}")
    for line, why in report.rejected:
        click.echo(f"  line {line}: {why}", err=True)
    if report.rejected:
        sys.exit(1)


@ledger_group.command("export")
@click.option("--campaign", "slug", default=None, help="Only this campaign.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def ledger_export(slug: str | None, output: Path | None) -> None:
    """The whole ledger as CSV, with donors' private details (keep it safe)."""
    from kibitz.services import funding_reports as rep

    text = run(lambda kb: rep.export(kb, slug))
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@main.group()
def funding() -> None:
    """Reports on reader funding, and repairing the cached totals."""


@funding.command("report")
@click.argument("slug")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the months as an SVG chart.")  # fmt: skip
def funding_report(slug: str, chart: Path | None) -> None:
    """Totals per month: donations, refunds, chargebacks, adjustments, net and goal."""
    from kibitz.services import campaigns as camp
    from kibitz.services import funding_reports as rep

    async def work(kb: Kibitz) -> tuple[Any, list[Any], str | None]:
        c = await camp.get(kb, slug)
        svg_text = await rep.monthly_chart(kb, slug) if chart else None
        return c, await rep.monthly(kb, slug), svg_text

    c, rows, svg_text = run(work)
    head = ("period", "gifts", "donations", "refunds", "chargebacks", "adjust", "net", "goal")
    click.echo("  ".join(f"{h:>12}" for h in head))
    for r in rows:
        cells = [r.key, str(r.gifts)] + [
            _show(v, c.currency)
            for v in (r.donations, r.refunds, r.chargebacks, r.adjustments, r.net, r.goal)
        ]
        click.echo("  ".join(f"{x:>12}" for x in cells))
    if chart and svg_text:
        chart.write_text(svg_text, encoding="utf-8")
        click.echo(f"wrote {chart}")


@funding.command("donors")
@click.option("--campaign", "slug", default=None, help="Only this campaign.")
def funding_donors(slug: str | None) -> None:
    """Donors with their gifts and net totals (private)."""
    from kibitz.services import funding_reports as rep

    for d in run(lambda kb: rep.donors_report(kb, slug)):
        totals = ", ".join(_show(v, k) for k, v in d.totals.items())
        monthly = " monthly" if d.monthly else ""
        last = f"{d.last:%Y-%m-%d}" if d.last else "-"
        click.echo(f"{d.name or '-'} <{d.email or '-'}>  {d.gifts} gifts{monthly}, {totals}, "
                   f"last {last}")  # fmt: skip


@funding.command("recurring")
def funding_recurring() -> None:
    """Active monthly gifts and the revenue they bring each month."""
    from kibitz.services import funding_reports as rep

    rows = run(rep.recurring_report)
    if not rows:
        click.echo("no active monthly gifts")
    for r in rows:
        click.echo(f"{r.campaign}: {r.active} monthly gifts, {_show(r.monthly_total, r.currency)} "
                   "a month")  # fmt: skip


@funding.command("refunds")
@click.option("--campaign", "slug", default=None, help="Only this campaign.")
def funding_refunds(slug: str | None) -> None:
    """Refunds and chargebacks, newest first."""
    from kibitz.services import funding_reports as rep

    for e in run(lambda kb: rep.refunds_report(kb, slug)):
        _echo_entry(e)


@funding.command("recount")
def funding_recount() -> None:
    """Recompute every cached total from the ledger (what `kibitz check` compares)."""
    from kibitz.services import audit, bookkeeping

    fixed = run(lambda kb: bookkeeping.recount(kb, audit.SYSTEM))
    for d in fixed:
        click.echo(f"fixed {d.campaign} {d.period_key}: {d.cached_raised} -> {d.ledger_raised}")
    click.echo(f"totals recounted; {len(fixed)} were wrong")


@funding.command("handled")
@click.argument("event_id")
@click.option("--note", default="", help="What was done, for the audit log.")
def funding_handled(event_id: str, note: str) -> None:
    """Mark a payment event that needed a person as dealt with (after recording by hand what
    it reported); `kibitz check` stops reporting it."""
    from kibitz.services import audit, bookkeeping

    done = run(lambda kb: bookkeeping.mark_handled(kb, audit.SYSTEM, event_id, note))
    click.echo(f"{done.type} {done.event_id} marked handled")


def report_funding() -> bool:
    """For `kibitz check`: recompute every campaign total from the ledger and compare it with
    the cached one; list payment events whose money kibitz could not record, and those still
    waiting for their payment after a day. False when a total drifted or an event needs a
    person."""
    from kibitz.services import bookkeeping

    found = run(bookkeeping.health)
    drifted, waiting = found.drift, found.unmatched
    for a in found.attention:
        click.echo(
            f"funding: {a.type} {a.event_id} (received {a.received_at:%Y-%m-%d}) needs a "
            f"person: {a.reason} (then `kibitz funding handled {a.event_id}`)"
        )
    if found.attention:
        click.echo(f"funding: {len(found.attention)} payment event(s) need attention")
    for d in drifted:
        click.echo(
            f"funding: {d.campaign} {d.period_key}: cached total {d.cached_raised} "
            f"({d.cached_donations} gifts), ledger says {d.ledger_raised} "
            f"({d.ledger_donations} gifts); run `kibitz funding recount`"
        )
    for event_id, kind, received in waiting:
        click.echo(
            f"funding: note: {kind} {event_id} (received {received:%Y-%m-%d}) matches no "
            "payment kibitz recorded (expected for payments made outside kibitz)"
        )
    if not drifted:
        click.echo("funding: cached totals match the ledger")
    return found.healthy
