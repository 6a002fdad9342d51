"""The dashboard's funding pages: campaigns, gifts recorded by hand, refunds and adjustments,
CSV imports with a preview, reports with the monthly chart, the CSV export and the ledger's
health.

Who sees what: moderators see campaigns, totals, the chart and the ledger's health, with
donors as the public sees them (a public name, or "anonymous"). Donors' names, e-mail
addresses, messages and notes, the donor list, the CSV export and every change are for
admins only: giving money to a newsroom can say a lot about a person (their politics, say),
moderators need none of it to moderate comments, and the fewer people who can read or alter
the money records, the fewer mistakes and leaks. Every change is in the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from kibitz import money
from kibitz.services import bookkeeping, funding, funding_reports, ledger_import
from kibitz.services import campaigns as camp
from kibitz.services.errors import Invalid, ServiceError
from kibitz.web import admin_uploads as uploads
from kibitz.web import reader as rd
from kibitz.web.admin_auth import admins_only, context, me

BASE = "/admin/funding"
KINDS = {"donation": "Gift", "refund": "Refund", "chargeback": "Chargeback",
         "adjustment": "Adjustment"}  # fmt: skip
METHODS = {"bank_transfer": "Bank transfer", "paypal": "PayPal", "crypto": "Crypto",
           "cash": "Cash", "cheque": "Cheque", "card": "Card", "other": "Other"}  # fmt: skip


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _page(request: Request[Any, Any, Any], name: str, status: int = 200, **extra: Any) -> Template:
    kb = rd.kibitz(request)
    s = kb.settings

    def shown(minor: int, code: str) -> str:
        return money.format_money(minor, code, s.locale, s.money_format, exact=True)

    def major(minor: int, code: str) -> str:
        return str(money.to_decimal(minor, code))

    return Template(
        f"admin/{name}.html",
        status_code=status,
        context=context(
            request, section="funding", money=shown, major=major, kinds=KINDS, methods=METHODS,
            base=BASE, **extra,
        ),
    )  # fmt: skip


def _campaign_url(slug: str, tail: str = "", **query: str) -> str:
    url = f"{BASE}/campaigns/{slug}{tail}"
    return url + ("?" + urlencode(query) if query else "")


# -- the overview


@get("/funding", include_in_schema=False)
async def overview(
    request: Request[Any, Any, Any], notice: FromQuery[str | None] = None
) -> Template:
    kb = rd.kibitz(request)
    bars = [await funding.bar(kb, c.slug) for c in await camp.list_all(kb)]
    return _page(
        request, "funding", bars=bars, health=await bookkeeping.health(kb),
        recurring=await funding_reports.recurring_report(kb), notice=notice,
    )  # fmt: skip


@post("/funding/recount", include_in_schema=False, status_code=303, guards=[admins_only])
async def recount(request: Request[Any, Any, Any]) -> Response[Any]:
    fixed = await bookkeeping.recount(rd.kibitz(request), me(request).actor)
    notice = f"Totals recounted from the ledger; {len(fixed)} were wrong and are now right."
    return Redirect(f"{BASE}?{urlencode({'notice': notice})}", status_code=303)


@post("/funding/events/handled", include_in_schema=False, status_code=303, guards=[admins_only])
async def event_handled(request: Request[Any, Any, Any]) -> Response[Any]:
    """A payment event that needed a person was put right by hand."""
    data = await _form(request)
    done = await bookkeeping.mark_handled(
        rd.kibitz(request), me(request).actor, data.get("event_id", ""), data.get("note", "")
    )
    notice = f"Event {done.event_id} marked handled."
    return Redirect(f"{BASE}?{urlencode({'notice': notice})}", status_code=303)


@get("/funding/export", include_in_schema=False, guards=[admins_only])
async def export(
    request: Request[Any, Any, Any], campaign: FromQuery[str | None] = None
) -> Response[str]:
    """The ledger as CSV, with donors' details: logged, never cached."""
    kb = rd.kibitz(request)
    slug = campaign or None
    body = await funding_reports.export(kb, slug)
    target = f"campaign:{slug}" if slug else "funding"
    await bookkeeping.note_export(kb, me(request).actor, "export_ledger", target)
    name = f"kibitz-ledger-{slug}.csv" if slug else "kibitz-ledger.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


# -- campaigns


def _campaign_form(data: dict[str, str], *, new: bool) -> bookkeeping.CampaignForm:
    return bookkeeping.CampaignForm(
        slug=data.get("slug", "") if new else "", name=data.get("name", ""),
        goal=data.get("goal", ""), currency=data.get("currency", ""),
        fixed=data.get("period") == "fixed", start=data.get("start", ""),
        end=data.get("end", ""), milestones=data.get("milestones", ""),
        suggested=data.get("suggested", ""), min_amount=data.get("min", ""),
        max_amount=data.get("max", ""), description=data.get("description", ""),
        supporter_wall=data.get("wall") == "on",
    )  # fmt: skip


@get("/funding/create", include_in_schema=False, guards=[admins_only])
async def create_page(request: Request[Any, Any, Any]) -> Template:
    kb = rd.kibitz(request)
    values = {"currency": "USD", "wall": "on", "period": "monthly"}
    return _page(request, "campaign_new", values=values, time_zone=kb.settings.time_zone)


@post("/funding/create", include_in_schema=False, status_code=303, guards=[admins_only])
async def create(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    try:
        made = await bookkeeping.create_campaign(
            kb, me(request).actor, bookkeeping.new_campaign(_campaign_form(data, new=True))
        )
    except ServiceError as exc:
        return _page(request, "campaign_new", exc.status, values=data, error=exc.message,
                     field=exc.field, time_zone=kb.settings.time_zone)  # fmt: skip
    return Redirect(
        _campaign_url(made.slug, notice=f"Campaign {made.slug} created."), status_code=303
    )


async def _campaign_view(
    request: Request[Any, Any, Any], slug: str, period: str | None, **extra: Any
) -> Template:
    kb = rd.kibitz(request)
    status = extra.pop("status", 200)
    campaign, shown_period, found = await bookkeeping.entries(kb, slug, period)
    history = await funding.history(kb, slug)
    bar = await funding.bar(kb, slug, period)
    tz = camp.zone(kb.settings.time_zone)
    values = extra.pop("values", None) or _edit_values(campaign, tz)
    return _page(
        request, "campaign", status, c=campaign, bar=bar, history=history, entries=found,
        period=shown_period, values=values, time_zone=kb.settings.time_zone, **extra,
    )  # fmt: skip


def _edit_values(c: camp.Campaign, tz: Any) -> dict[str, str]:
    def major(minor: int) -> str:
        return str(money.to_decimal(minor, c.currency))

    end = ""
    if c.ends_at is not None:
        last = (c.ends_at - timedelta(microseconds=1)).astimezone(tz)
        end = last.strftime("%Y-%m") if c.period == "monthly" else last.date().isoformat()
    return {
        "name": c.name, "description": c.description, "goal": major(c.goal),
        # default ticks are left empty, so that they follow a new goal
        "milestones": "" if c.milestones == camp.default_milestones(c.goal)
        else ", ".join(major(m) for m in c.milestones),
        "suggested": ", ".join(major(m) for m in c.suggested_amounts),
        "min": major(c.min_amount), "max": major(c.max_amount),
        "wall": "on" if c.supporter_wall else "", "end": end,
    }  # fmt: skip


@get("/funding/campaigns/{slug:str}", include_in_schema=False)
async def campaign_page(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    period: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    return await _campaign_view(request, slug, period or None, notice=notice)


@post("/funding/campaigns/{slug:str}", include_in_schema=False, status_code=303,
      guards=[admins_only])  # fmt: skip
async def campaign_update(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    try:
        current = await camp.get(kb, slug)
        change = bookkeeping.campaign_update(current, _campaign_form(data, new=False))
        await bookkeeping.update_campaign(kb, me(request).actor, slug, change)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return await _campaign_view(request, slug, None, status=exc.status, values=data,
                                    error=exc.message, field=exc.field)  # fmt: skip
    return Redirect(_campaign_url(slug, notice="Campaign saved."), status_code=303)


# -- entries by hand


def _entry_form(data: dict[str, str]) -> bookkeeping.ManualEntry:
    reverses = data.get("reverses", "").strip().lstrip("#")
    if reverses and not reverses.isdigit():
        raise Invalid("invalid_reverses", "Give the number of the gift to refund.", "reverses")
    public = data.get("public_name", "") if data.get("display") == "name" else ""
    return bookkeeping.ManualEntry(
        amount=data.get("amount", ""), kind=data.get("kind", "donation"),
        currency=data.get("currency", ""), rate=data.get("rate", ""),
        date=data.get("date", ""), method=data.get("method", ""),
        monthly=data.get("frequency") == "monthly", name=data.get("name", ""),
        email=data.get("email", ""), public_name=public, message=data.get("message", ""),
        reverses=int(reverses) if reverses else None, period=data.get("period", ""),
        reference=data.get("reference", ""), note=data.get("note", ""),
    )  # fmt: skip


async def _entry_view(
    request: Request[Any, Any, Any], slug: str, values: dict[str, str], status: int = 200,
    **extra: Any,
) -> Template:  # fmt: skip
    kb = rd.kibitz(request)
    campaign = await camp.get(kb, slug)
    reversing = None
    reverses = values.get("reverses", "").strip().lstrip("#")
    if reverses.isdigit():
        try:
            reversing = await bookkeeping.entry(kb, int(reverses))
        except ServiceError:
            reversing = None
    return _page(request, "entry", status, c=campaign, values=values, reversing=reversing,
                 time_zone=kb.settings.time_zone, **extra)  # fmt: skip


@get("/funding/campaigns/{slug:str}/entries", include_in_schema=False, guards=[admins_only])
async def entry_page(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    kind: FromQuery[str] = "donation",
    reverses: FromQuery[int | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    values = {"kind": kind, "display": "anonymous", "frequency": "one_time",
              "method": "bank_transfer"}  # fmt: skip
    if reverses is not None:
        gift, left = await bookkeeping.entry(kb, reverses)
        values.update(reverses=str(gift.id), amount=str(money.to_decimal(left, gift.currency)),
                      currency=gift.currency, method=gift.method or "")  # fmt: skip
    return await _entry_view(request, slug, values)


@post("/funding/campaigns/{slug:str}/entries", include_in_schema=False, status_code=303,
      guards=[admins_only])  # fmt: skip
async def entry_create(request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    try:
        made = await bookkeeping.record(kb, me(request).actor, slug, _entry_form(data))
    except ServiceError as exc:
        if exc.code == "no_such_campaign":
            raise
        return await _entry_view(request, slug, data, exc.status, error=exc.message,
                                 field=exc.field)  # fmt: skip
    if made is None:
        notice = "Already recorded: an entry with that reference exists; nothing changed."
    else:
        notice = f"{KINDS.get(data.get('kind', ''), 'Entry')} #{made} recorded."
    return Redirect(_campaign_url(slug, notice=notice), status_code=303)


# -- CSV import: upload, preview (a dry run), confirm


@get("/funding/campaigns/{slug:str}/import", include_in_schema=False, guards=[admins_only])
async def import_page(request: Request[Any, Any, Any], slug: FromPath[str]) -> Template:
    campaign = await camp.get(rd.kibitz(request), slug)
    return _page(request, "ledger_import", c=campaign, columns=ledger_import.COLUMNS)


@post("/funding/campaigns/{slug:str}/import", include_in_schema=False, status_code=200,
      guards=[admins_only, uploads.csrf_after_login], opt=uploads.OPT)  # fmt: skip
async def import_csv(request: Request[Any, Any, Any], slug: FromPath[str]) -> Template:
    """``step=preview`` checks every line and records nothing; ``step=confirm`` records the
    same text (carried in the preview page), leaving out the lines it rejects."""
    kb = rd.kibitz(request)
    data = await _form(request)
    upload = await uploads.file_of(request, "file")
    raw = await upload.read() if upload is not None else None
    await uploads.close_files(request)
    campaign = await camp.get(kb, slug)
    text = data.get("csv", "")
    if raw is not None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _page(request, "ledger_import", 422, c=campaign, columns=ledger_import.COLUMNS,
                         error="The file is not UTF-8 text: save it as CSV (UTF-8).")  # fmt: skip
    confirm = data.get("step") == "confirm"
    try:
        if not text.strip():
            raise Invalid("required", "Choose a CSV file, or paste its lines.", "file")
        report = await ledger_import.import_csv(kb, slug, text, dry_run=not confirm,
                                                actor=me(request).actor)  # fmt: skip
    except ServiceError as exc:
        return _page(request, "ledger_import", exc.status, c=campaign, error=exc.message,
                     columns=ledger_import.COLUMNS, csv=text)  # fmt: skip
    lines = report.added + report.already + len(report.rejected)
    return _page(request, "ledger_import", c=campaign, report=report, csv=text, lines=lines,
                 columns=ledger_import.COLUMNS)  # fmt: skip


# -- reports


@get("/funding/campaigns/{slug:str}/report", include_in_schema=False)
async def report_page(request: Request[Any, Any, Any], slug: FromPath[str]) -> Template:
    kb = rd.kibitz(request)
    campaign = await camp.get(kb, slug)
    admin = me(request).is_admin
    return _page(
        request, "funding_report", c=campaign,
        months=await funding_reports.monthly(kb, slug),
        chart=await funding_reports.monthly_chart(kb, slug),
        donors=await funding_reports.donors_report(kb, slug) if admin else None,
        refunds=await funding_reports.refunds_report(kb, slug),
        recurring=[r for r in await funding_reports.recurring_report(kb) if r.campaign == slug],
    )  # fmt: skip


ROUTES = [
    overview,
    recount,
    event_handled,
    export,
    create_page,
    create,
    campaign_page,
    campaign_update,
    entry_page,
    entry_create,
    import_page,
    report_page,
]
UPLOAD_ROUTES = [import_csv]
