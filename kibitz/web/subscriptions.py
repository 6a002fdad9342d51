"""Subscribing without commenting, and the pages that links in mail lead to.

Every change is a POST: links only open a page with a button. The one-click unsubscribe of
RFC 8058 is a POST to the List-Unsubscribe address itself, authorised by its signed token.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromQuery, JSONBody
from litestar.response import Template

from kibitz.models import NewSubscription
from kibitz.services import subscriptions as subs
from kibitz.services.addresses import email_key
from kibitz.services.errors import Invalid, RateLimited
from kibitz.web import reader as rd
from kibitz.web.api import ERRORS, browser_write

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@post(
    "/api/v1/subscriptions",
    status_code=202,
    summary="Follow a thread by e-mail without commenting",
    description="`kind` is `thread` (every new comment) or `replies` (replies to my "
    "comments). The first subscription of an address sends a confirmation mail; nothing "
    "else is sent before it is confirmed.",
    guards=[browser_write],
    tags=["subscriptions"],
    responses=ERRORS,
)
async def subscribe(
    request: Request[Any, Any, Any], data: JSONBody[NewSubscription]
) -> dict[str, str]:
    kb = rd.kibitz(request)
    who, _ = rd.reader(request)
    await rd.limit(request, "subscribe", who)
    verdict = await kb.limiter.check([("subscribe.email", email_key(data.email))])
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)
    confirmed = await subs.subscribe(
        kb, data.email, data.thread, data.kind,
        page_url=data.thread_url or "", title=data.thread_title or "",
    )  # fmt: skip
    kb.wake_worker()
    return {"status": "subscribed" if confirmed else "confirmation_sent"}


def _context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    kb = rd.kibitz(request)
    return {"site_name": kb.settings.site_name, "support_url": kb.settings.support_link, **extra}


@get("/subscriptions/confirm", include_in_schema=False)
async def confirm_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    subs.check_confirm_token(rd.kibitz(request), token)
    return Template("subscription.html", context=_context(
        request, step="confirm", token=token))  # fmt: skip


@post("/subscriptions/confirm", include_in_schema=False, status_code=200)
async def confirm(request: Request[Any, Any, Any], data: FormData) -> Template:
    email = await subs.confirm(rd.kibitz(request), data.get("token", ""))
    return Template("subscription.html", context=_context(
        request, step="confirmed", email=email))  # fmt: skip


@get("/subscriptions/unsubscribe", include_in_schema=False)
async def unsubscribe_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    subs.check_unsubscribe_token(rd.kibitz(request), token)
    return Template("subscription.html", context=_context(
        request, step="unsubscribe", token=token))  # fmt: skip


@post("/subscriptions/unsubscribe", include_in_schema=False, status_code=200,
      responses={200: ResponseSpec(None, description="Unsubscribed")})  # fmt: skip
async def unsubscribe(request: Request[Any, Any, Any], token: FromQuery[str]) -> Response[Any]:
    """The page's button and the mail client's one-click POST (RFC 8058) both land here."""
    await subs.unsubscribe(rd.kibitz(request), token)
    if "text/html" not in request.headers.get("accept", ""):
        return Response(b"", status_code=200)
    return Template("subscription.html", context=_context(request, step="unsubscribed"))


@get("/subscriptions/manage", include_in_schema=False)
async def manage_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    prefs = await subs.preferences(rd.kibitz(request), token)
    return Template("subscription.html", context=_context(
        request, step="manage", token=token, prefs=prefs))  # fmt: skip


@post("/subscriptions/manage", include_in_schema=False, status_code=200)
async def manage(
    request: Request[Any, Any, Any], token: FromQuery[str], data: FormData
) -> Template:
    kb = rd.kibitz(request)
    action = data.get("action", "")
    if action == "remove" and data.get("id", "").isdigit():
        await subs.update_preferences(kb, token, remove=int(data["id"]))
    elif action in ("digest", "immediate"):
        await subs.update_preferences(kb, token, digest=action == "digest")
    else:
        raise Invalid("invalid_action", "Choose what to change.", "action")
    prefs = await subs.preferences(kb, token)
    return Template("subscription.html", context=_context(
        request, step="manage", token=token, prefs=prefs, saved=True))  # fmt: skip
