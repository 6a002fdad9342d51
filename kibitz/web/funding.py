"""Reader funding on the web: the bar as JSON and SVG, the campaign page, the donation page,
and the Stripe webhook. Handlers parse, limit, call a service and render."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from kibitz import money, svg
from kibitz.cache import Entry
from kibitz.context import Kibitz
from kibitz.payments import PaymentProvider, WebhookRejected, provider_for
from kibitz.services import campaigns as camp
from kibitz.services import donations, funding
from kibitz.services.addresses import check_email
from kibitz.services.errors import Invalid, NotFound, RateLimited, ServiceError
from kibitz.web import reader as rd
from kibitz.web.api import ERRORS, cached
from kibitz.web.errors import error_response

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
WEBHOOK_MAX_BYTES = 1024 * 1024


def _now() -> datetime:
    return datetime.now(UTC)


def _provider(kb: Kibitz) -> PaymentProvider | None:
    return provider_for(kb.settings)


# The donation forms end on Stripe's pages, and browsers apply form-action to redirects too.
PAYMENT_PAGES = "https://checkout.stripe.com https://billing.stripe.com"


def _payment_form(template: Template) -> Template:
    from kibitz.app import CSP

    policy = CSP.replace("form-action 'self'", f"form-action 'self' {PAYMENT_PAGES}")
    template.headers["Content-Security-Policy"] = policy
    return template


def context(kb: Kibitz, **extra: Any) -> dict[str, Any]:
    return {"site_name": kb.settings.site_name, "support_url": kb.settings.support_link, **extra}


# -- the bar as data and as an image


async def _bar_entry(
    request: Request[Any, Any, Any], slug: str | None, period: str | None, kind: str
) -> Entry:
    """The bar as JSON (``kind`` "json", with the bar's HTML as kibitz's own pages show it)
    or as an SVG image ("svg"), cached until the campaign's ledger or goal changes (or the
    day does)."""
    kb = rd.kibitz(request)
    now = _now()
    scope = camp.scope(slug) if slug else camp.FEATURED_SCOPE
    variant = (kind, period or "", now.astimezone(camp.zone(kb.settings.time_zone)).date())
    entry = kb.cache.get(scope, variant)
    if entry is not None:
        return entry
    generation = kb.cache.generation(scope)
    shown = await funding.bar(kb, slug, period, now)
    if shown is None:
        raise NotFound("no_campaign", "There is no campaign to show.")
    if kind == "svg":
        entry = Entry.of(svg.funding_bar(shown).encode("utf-8"))
    else:
        data = shown.as_json(kb.settings.public_url)
        # the bar as kibitz's own pages show it, with absolute links: the widget shows it as is
        engine = request.app.template_engine
        assert engine is not None  # the app is made with its templates (kibitz/app.py)
        template = engine.get_template("_funding_bar.html")
        base = kb.settings.public_url.rstrip("/")
        html = template.render(bar=shown, funding_links=True, donate_link=True, base=base)
        data["html"] = html.strip()
        entry = Entry.of(msgspec.json.encode(data))
    kb.cache.put(scope, variant, entry, generation)
    return entry


SVG_HEADERS = {
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def _svg(request: Request[Any, Any, Any], entry: Entry) -> Response[bytes]:
    """The image, or 304 when the client has it. Mail clients and image proxies may keep it
    five minutes; browsers revalidate with the ETag after that."""
    headers = {"ETag": entry.etag, "Cache-Control": "public, max-age=300", **SVG_HEADERS}
    if entry.etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(entry.body, media_type="image/svg+xml", headers=headers)


_BAR_DOC = (
    "Everything the funding bar shows, formatted in the site's locale: the ticks with their "
    "positions (0-1), the raised amount, the goal, the period label, the accessible sentence "
    "and the ARIA values. Amounts are integers of the currency's minor unit. `html` is the "
    "bar as kibitz's own pages render it (with absolute links, and a Donate link), which the "
    "widget shows as is. Answers 304 to a matching If-None-Match."
)


@get(
    "/api/v1/funding",
    summary="The featured campaign's funding bar",
    description=_BAR_DOC,
    tags=["funding"],
    responses=ERRORS,
)
async def featured_bar(
    request: Request[Any, Any, Any], period: FromQuery[str | None] = None
) -> Response[bytes]:
    return cached(request, await _bar_entry(request, None, period, "json"))


@get(
    "/api/v1/funding/{slug:str}",
    summary="A campaign's funding bar",
    description=_BAR_DOC + " `period` picks a month (YYYY-MM) of a monthly campaign.",
    tags=["funding"],
    responses=ERRORS,
)
async def campaign_bar(
    request: Request[Any, Any, Any], slug: FromPath[str], period: FromQuery[str | None] = None
) -> Response[bytes]:
    return cached(request, await _bar_entry(request, slug, period, "json"))


@get("/funding/{name:str}", include_in_schema=False)
async def campaign_page(
    request: Request[Any, Any, Any], name: FromPath[str], period: FromQuery[str | None] = None
) -> Response[Any]:
    """The campaign page, or (``<slug>.svg``) the bar as an image for newsletters."""
    kb = rd.kibitz(request)
    if name.endswith(".svg"):
        return _svg(request, await _bar_entry(request, name.removesuffix(".svg"), period, "svg"))
    shown = await funding.bar(kb, name, period)
    assert shown is not None
    history = await funding.history(kb, name)
    return Template(
        "campaign.html",
        context=context(
            kb, bar=shown, history=history, supporters=await funding.supporters(kb, shown),
            payments=_provider(kb) is not None,
        ),
    )  # fmt: skip


# -- the donation page


def _label(kb: Kibitz, minor: int, currency: str) -> str:
    """An amount in the site's locale and pattern ('25 $'), with every minor digit when the
    pattern would hide some ('2.50 $', not '2 $')."""
    s = kb.settings
    hidden = 10 ** max(0, money.exponent(currency) - money.pattern_digits(s.money_format))
    return money.format_money(minor, currency, s.locale, s.money_format, exact=bool(minor % hidden))


def _choices(kb: Kibitz, campaign: camp.Campaign) -> list[tuple[str, str]]:
    """(form value, label) of each suggested amount; the value is written as the reader
    would type it in the site's locale, and read back the same way."""
    c = campaign.currency
    return [
        (money.plain(a, c, kb.settings.locale), _label(kb, a, c)) for a in
        campaign.suggested_amounts
    ]  # fmt: skip


async def _donate_context(
    kb: Kibitz, slug: str | None, form: dict[str, str] | None = None,
    error: ServiceError | None = None,
) -> dict[str, Any]:  # fmt: skip
    shown = await funding.bar(kb, slug)
    if shown is None:
        return context(kb, bar=None, error=error)
    campaign = shown.campaign
    form = form or {}
    choices = _choices(kb, campaign)
    low, high = donations.bounds(campaign)
    s = kb.settings
    chosen = form.get("amount") or (choices[min(1, len(choices) - 1)][0] if choices else "")
    return context(
        kb, bar=shown, campaign=campaign, choices=choices, chosen=chosen,
        form=form, error=error, payments=_provider(kb) is not None,
        open=campaign.is_open(_now()), ended=campaign.has_ended(_now()),
        monthly=campaign.period == "monthly",
        low=money.format_money(low, campaign.currency, s.locale, s.money_format, exact=True),
        high=money.format_money(high, campaign.currency, s.locale, s.money_format, exact=True),
        symbol=money.format_money(0, campaign.currency, s.locale, "¤"),
    )  # fmt: skip


@get("/donate", include_in_schema=False)
async def donate_page(
    request: Request[Any, Any, Any], campaign: FromQuery[str | None] = None
) -> Template:
    kb = rd.kibitz(request)
    return _payment_form(Template("donate.html", context=await _donate_context(kb, campaign)))


def _amount(data: dict[str, str]) -> str:
    custom = data.get("custom_amount", "").strip()
    return custom if custom or data.get("amount") == "other" else data.get("amount", "")


@post("/donate", include_in_schema=False, status_code=303)
async def donate(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Check the gift, count it against the card-testing limits, and send the reader to the
    provider's payment page."""
    kb = rd.kibitz(request)
    slug = data.get("campaign", "")
    try:
        provider = _provider(kb)
        if provider is None:
            raise Invalid("payments_not_set_up", "Card payments are not set up on this site.")
        who, _ = rd.reader(request)
        form = donations.DonationForm(
            campaign=slug, amount=_amount(data), frequency=data.get("frequency", "one_time"),
            public_name=data.get("public_name", ""), message=data.get("message", ""),
        )  # fmt: skip
        # refuse what the page would refuse before counting it, so typos cost no attempt
        donations.check(kb.settings, await camp.get(kb, slug), form, _now())
        await rd.limit(request, "checkout", who)
        verdict = await kb.limiter.check([("checkout.site", "all")])
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after)
        session = await donations.start_checkout(kb, provider, form, who)
    except ServiceError as exc:
        page = Template("donate.html", context=await _donate_context(kb, slug or None, data, exc))
        page.status_code = exc.status
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return _payment_form(page)
    return Redirect(session.url, status_code=303)


@get("/donate/thanks", include_in_schema=False)
async def thanks_page(
    request: Request[Any, Any, Any], session_id: FromQuery[str | None] = None
) -> Template:
    """Where the provider sends the donor back. It shows what the webhooks said so far; it
    never records anything itself."""
    kb = rd.kibitz(request)
    status = None
    if session_id and len(session_id) < 200:
        status = await donations.session_status(kb, "stripe", session_id)
    return Template("donate_thanks.html", context=context(kb, status=status))


@get("/donate/manage", include_in_schema=False)
async def manage_page(
    request: Request[Any, Any, Any], token: FromQuery[str | None] = None
) -> Template:
    kb = rd.kibitz(request)
    if token:
        donations.check_portal_token(kb, token)
    page = Template("donate_manage.html", context=context(kb, token=token, sent=False))
    return _payment_form(page)


@post("/donate/manage", include_in_schema=False, status_code=303)
async def manage(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Open the provider's page where a monthly donor changes or cancels their gift."""
    kb = rd.kibitz(request)
    provider = _provider(kb)
    if provider is None:
        raise Invalid("payments_not_set_up", "Card payments are not set up on this site.")
    url = await donations.portal_redirect(kb, provider, data.get("token", ""))
    return Redirect(url, status_code=303)


@post("/donate/manage-link", include_in_schema=False, status_code=200)
async def manage_link(request: Request[Any, Any, Any], data: FormData) -> Template:
    """Mail the management link to a monthly donor. The answer is the same whether or not
    the address gives monthly, so nobody can learn who does."""
    kb = rd.kibitz(request)
    email = check_email(data.get("email"), "email", required_message="Enter your e-mail.")
    assert email is not None
    who, _ = rd.reader(request)
    verdict = await kb.limiter.check(
        [("donor_link.ip", who.ip_hash), ("donor_link.email", email.lower())]
    )
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)
    await donations.send_manage_links(kb, email)
    return Template("donate_manage.html", context=context(kb, token=None, sent=True))


# -- the provider's webhook


@post(
    "/webhooks/stripe",
    include_in_schema=False,
    exclude_from_csrf=True,
    status_code=200,
    request_max_body_size=WEBHOOK_MAX_BYTES,
    responses={200: ResponseSpec(None, description="Handled")},
)
async def stripe_webhook(request: Request[Any, Any, Any]) -> Response[Any]:
    """Stripe's events: verified, then recorded once with their effect."""
    kb = rd.kibitz(request)
    provider = _provider(kb)
    if provider is None:
        return error_response(404, "payments_not_set_up", "Stripe is not set up on this site.")
    body = await request.body()
    try:
        event = provider.parse_webhook(body, request.headers, time.time())
    except WebhookRejected as exc:
        return error_response(400, exc.code, exc.message)
    outcome = await donations.handle_event(kb, provider, event)
    return Response({"received": event.id, "outcome": outcome}, status_code=200)


ROUTES = [
    featured_bar, campaign_bar, campaign_page, donate_page, donate, thanks_page, manage_page,
    manage, manage_link, stripe_webhook,
]  # fmt: skip
