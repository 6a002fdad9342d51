"""The dashboard's mail page, for admins: what the outbox holds, the latest failures (addresses
masked), and a Retry button that queues them again. The same report and retry as
``kibitz mail status`` and ``kibitz mail retry``; every retry is in the audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from kibitz.mail import status
from kibitz.services.errors import Invalid
from kibitz.web import reader as rd
from kibitz.web.admin_auth import admins_only, context, me

BASE = "/admin/mail"
STATUSES = ("queued", "sending", "sent", "failed")


@get("/mail", include_in_schema=False, guards=[admins_only])
async def mail_page(
    request: Request[Any, Any, Any], notice: FromQuery[str | None] = None
) -> Template:
    kb = rd.kibitz(request)
    report = await status.report(kb, limit=50)
    kinds = sorted({kind for _, kind, _ in report.counts})
    table = {(s, k): n for s, k, n in report.counts}
    return Template(
        "admin/mail.html",
        context=context(
            request, section="mail", report=report, kinds=kinds, statuses=STATUSES,
            table=table, give_up_hours=kb.settings.outbox_give_up_hours, notice=notice,
        ),
    )  # fmt: skip


@post("/mail/retry", include_in_schema=False, status_code=303, guards=[admins_only])
async def mail_retry(request: Request[Any, Any, Any]) -> Response[Any]:
    """``id``: one row; none: every failed row."""
    form = await request.form()
    one = str(form.get("id", "") or "")
    if one and not one.isdigit():
        raise Invalid("invalid_id", "A row's id is a number.", "id")
    ids = [int(one)] if one else []
    queued = await status.retry(rd.kibitz(request), me(request).actor, ids=ids, all_failed=not ids)
    if queued:
        notice = f"Queued again: {len(queued)}. The worker sends them now."
    else:
        notice = "Nothing to queue again (sent already, or no such row)."
    return Redirect(f"{BASE}?{urlencode({'notice': notice})}", status_code=303)


ROUTES = [mail_page, mail_retry]
