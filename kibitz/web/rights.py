"""A reader's own data: ask for it by e-mail, download it, erase it (confirmed by the link
in the mail, then by a button: links alone never change anything)."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Template

from kibitz.models import RightsRequest
from kibitz.services import audit, rights
from kibitz.services.addresses import email_key
from kibitz.services.errors import RateLimited, ServiceError
from kibitz.web import reader as rd
from kibitz.web.api import ERRORS, browser_write


def _context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    kb = rd.kibitz(request)
    return {"site_name": kb.settings.site_name, "support_url": kb.settings.support_url, **extra}


async def _ask(request: Request[Any, Any, Any], email: str) -> None:
    kb = rd.kibitz(request)
    who, _ = rd.reader(request)
    await rd.limit(request, "rights", who)
    verdict = await kb.limiter.check([("rights.email", email_key(email) or None)])
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)
    await rights.request(kb, email)


@post(
    "/api/v1/rights",
    status_code=202,
    summary="Ask for one's data (download or erasure) by e-mail",
    description="Mails the address two links, to download everything kibitz holds about it "
    "and to erase it, if it holds anything. The answer is the same either way.",
    guards=[browser_write],
    tags=["reader rights"],
    responses=ERRORS,
)
async def ask_api(request: Request[Any, Any, Any], data: JSONBody[RightsRequest]) -> dict[str, str]:
    await _ask(request, data.email)
    return {"status": "mail_sent_if_known"}


@get("/my-data", include_in_schema=False)
async def privacy_page(request: Request[Any, Any, Any]) -> Template:
    return Template("privacy.html", context=_context(request, step="ask"))


@post("/my-data", include_in_schema=False, status_code=200)
async def privacy_ask(request: Request[Any, Any, Any]) -> Template:
    form = await request.form()
    email = str(form.get("email", ""))
    try:
        await _ask(request, email)
    except ServiceError as exc:
        return Template(
            "privacy.html",
            status_code=exc.status,
            context=_context(request, step="ask", error=exc.message, email=email),
        )
    return Template("privacy.html", context=_context(request, step="sent"))


@get("/my-data/export", include_in_schema=False)
async def export(request: Request[Any, Any, Any], token: FromQuery[str]) -> Response[bytes]:
    kb = rd.kibitz(request)
    address = rights.read_token(kb, "export", token)
    data = await rights.export(kb, address)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-comments.json"',
            "Cache-Control": "no-store",
        },
    )


@get("/my-data/erase", include_in_schema=False)
async def erase_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    address = rights.read_token(rd.kibitz(request), "erase", token)
    return Template(
        "privacy.html",
        context=_context(
            request,
            step="confirm",
            token=token,
            email=address,
            mode=rd.kibitz(request).settings.erasure_mode,
        ),
    )


@post("/my-data/erase", include_in_schema=False, status_code=200)
async def erase(request: Request[Any, Any, Any]) -> Template:
    kb = rd.kibitz(request)
    form = await request.form()
    address = rights.read_token(kb, "erase", str(form.get("token", "")))
    done = await rights.erase(kb, address, audit.READER)
    return Template("privacy.html", context=_context(request, step="erased", done=done))


ROUTES = [ask_api, privacy_page, privacy_ask, export, erase_page, erase]
