"""The dashboard at /admin: queues, one comment, threads, readers, bans, the audit log and
accounts (funding, imports, inline feedback and mail are in kibitz/web/admin_*.py).
Server-rendered; a little plain JavaScript (static/admin.js) adds keyboard shortcuts and
select-all. Every route sits on one router whose guard wants a moderator's
session (``admin_auth``); account management also wants an admin.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from kibitz.services import accounts, audit, bans, moderation, rights
from kibitz.services import queue as queues
from kibitz.services.errors import Invalid
from kibitz.settings import Settings
from kibitz.web import admin_auth as auth
from kibitz.web import admin_uploads as uploads
from kibitz.web import reader as rd
from kibitz.web.admin_auth import admins_only, context, me

DONE = {
    "approve": "approved",
    "reject": "rejected",
    "spam": "marked as spam",
    "delete": "deleted",
    "pin": "pinned",
    "unpin": "unpinned",
    "feature": "featured",
    "unfeature": "no longer featured",
    "close_replies": "closed to replies",
    "open_replies": "open to replies again",
}


async def _form(request: Request[Any, Any, Any]) -> tuple[dict[str, str], list[str]]:
    """The form's fields, and every value of ``ids`` (checkboxes)."""
    form = await request.form()
    return {k: str(v) for k, v in form.items()}, [str(v) for v in form.getall("ids", [])]


def _back(target: str | None, **notice: str) -> Redirect:
    where = auth.safe_next(target)
    if notice:
        where += ("&" if "?" in where else "?") + urlencode(notice)
    return Redirect(where, status_code=303)


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise Invalid("invalid_ids", "Comment ids are numbers.", "ids") from None


# -- queues


@get(["/", "/comments"], include_in_schema=False)
async def queue_page(
    request: Request[Any, Any, Any],
    queue: FromQuery[str] = "pending",
    thread: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    found = await queues.page(kb, queue, thread=thread or None, q=q, cursor=cursor)

    def link(**params: str | None) -> str:
        base = {"queue": queue, "thread": thread, "q": q}
        merged = {k: v for k, v in {**base, **params}.items() if v}
        return "/admin/comments?" + urlencode(merged)

    return Template(
        "admin/queue.html",
        context=context(
            request,
            queue=queue,
            queues=queues.QUEUES,
            page=found,
            thread=thread or "",
            q=q or "",
            notice=notice,
            link=link,
            here=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
            next_link=link(cursor=found.next_cursor) if found.next_cursor else None,
        ),
    )


@post("/comments/action", include_in_schema=False, status_code=303)
async def comments_action(request: Request[Any, Any, Any]) -> Response[Any]:
    """One comment's button (``one=<id>:<action>``) or the bulk bar (``action`` and ``ids``)."""
    kb = rd.kibitz(request)
    data, ids = await _form(request)
    if data.get("one"):
        ident, _, action = data["one"].partition(":")
        targets = _ids([ident])
    else:
        action, targets = data.get("action", ""), _ids(ids)
    outcome = await moderation.act(kb, me(request).actor, targets, action)
    n = len(outcome.done)
    text = f"{n} comment{'s' if n != 1 else ''} {DONE.get(action, action)}."
    if outcome.skipped:
        text += " Skipped: " + "; ".join(f"#{i} ({why})" for i, why in outcome.skipped[:5])
    return _back(data.get("back"), notice=text)


@get("/comments/{comment_id:int}", include_in_schema=False)
async def comment_page(
    request: Request[Any, Any, Any], comment_id: FromPath[int], notice: FromQuery[str | None] = None
) -> Template:
    kb = rd.kibitz(request)
    found = await queues.detail(kb, comment_id)
    return Template(
        "admin/comment.html",
        context=context(
            request,
            d=found,
            c=found.item,
            notice=notice,
            here=f"/admin/comments/{comment_id}",
            ban_kinds=bans.KIND_LABELS,
        ),
    )


@post("/comments/{comment_id:int}/edit", include_in_schema=False, status_code=303)
async def comment_edit(request: Request[Any, Any, Any], comment_id: FromPath[int]) -> Response[Any]:
    kb = rd.kibitz(request)
    data, _ = await _form(request)
    await moderation.edit(kb, me(request).actor, comment_id, data.get("body", ""))
    return _back(f"/admin/comments/{comment_id}", notice="Edit saved; the earlier text is kept.")


# -- threads


@get("/threads", include_in_schema=False)
async def threads_page(
    request: Request[Any, Any, Any],
    q: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    rows = await queues.thread_list(kb, q)
    return Template(
        "admin/threads.html",
        context=context(
            request,
            threads=rows,
            q=q or "",
            notice=notice,
            site_mode=kb.settings.premoderation,
        ),
    )


@post("/threads/settings", include_in_schema=False, status_code=303)
async def thread_settings(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data, _ = await _form(request)
    key = data.get("thread", "")
    closed = {"close": True, "reopen": False}.get(data.get("state", ""))
    has_mode = "moderation" in data
    await moderation.set_thread(
        kb,
        me(request).actor,
        key,
        closed=closed,
        mode=data.get("moderation") or None,
        set_mode=has_mode,
    )
    return _back(data.get("back") or "/admin/threads", notice=f"Saved {key}.")


# -- readers: their history, their data


@get("/readers", include_in_schema=False)
async def reader_page(
    request: Request[Any, Any, Any],
    email: FromQuery[str | None] = None,
    voter: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    history = None
    if email or voter:
        history = await queues.history(kb, email=email, voter=voter)
    return Template(
        "admin/reader.html",
        context=context(
            request,
            history=history,
            email=email or "",
            voter=voter or "",
            notice=notice,
            erasure_mode=kb.settings.erasure_mode,
        ),
    )


@post("/readers/export", include_in_schema=False, status_code=200)
async def reader_export(request: Request[Any, Any, Any]) -> Response[bytes]:
    kb = rd.kibitz(request)
    data, _ = await _form(request)
    email = data.get("email", "").strip()
    if not email:
        raise Invalid("required", "Give an e-mail address.", "email")
    exported = await rights.export(kb, email, me(request).actor)
    return download(exported, "kibitz-data.json")


@post("/readers/erase", include_in_schema=False, status_code=303)
async def reader_erase(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data, _ = await _form(request)
    email = data.get("email", "").strip()
    if not email or data.get("confirm") != "erase":
        raise Invalid("required", "Type “erase” to confirm.", "confirm")
    done = await rights.erase(kb, email, me(request).actor)
    text = (
        f"Erased: {done.comments} comments ({done.deleted} deleted, {done.anonymised} "
        f"anonymised), {done.votes} votes, {done.reports} reports, "
        f"{done.subscriptions} subscriptions, {done.mails} mails; {done.gifts} gifts kept as "
        "amounts only."
    )
    return _back("/admin/readers", notice=text)


def download(data: dict[str, Any], name: str) -> Response[bytes]:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# -- bans


@get("/bans", include_in_schema=False)
async def bans_page(
    request: Request[Any, Any, Any],
    past: FromQuery[bool] = False,
    notice: FromQuery[str | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    rows = await bans.listing(kb, include_past=past)
    return Template(
        "admin/bans.html",
        context=context(
            request,
            bans=rows,
            past=past,
            notice=notice,
            kinds=bans.KIND_LABELS,
            now=datetime.now().astimezone(),
        ),
    )


@post("/bans", include_in_schema=False, status_code=303)
async def ban_create(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    form = await request.form()
    data = {k: str(v) for k, v in form.items()}
    days = data.get("days", "").strip()
    comment = data.get("comment_id", "").strip()
    try:
        request_ = bans.BanRequest(
            kinds=tuple(str(k) for k in form.getall("kinds", [])),
            reason=data.get("reason", ""),
            days=int(days) if days else None,
            shadow=data.get("shadow") == "on",
            comment_id=int(comment) if comment else None,
            email=data.get("email") or None,
        )
    except ValueError:
        raise Invalid("invalid_days", "Days is a whole number.", "days") from None
    made = await bans.ban(kb, me(request).actor, request_)
    return _back(
        data.get("back") or "/admin/bans",
        notice=f"Banned ({len(made)} identifier{'s' if len(made) != 1 else ''}).",
    )


@post("/bans/{ban_id:int}/lift", include_in_schema=False, status_code=303)
async def ban_lift(request: Request[Any, Any, Any], ban_id: FromPath[int]) -> Response[Any]:
    await bans.lift(rd.kibitz(request), me(request).actor, ban_id)
    return _back("/admin/bans", notice="Ban lifted.")


# -- the audit log


@get("/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    before: FromQuery[int | None] = None,
    action: FromQuery[str | None] = None,
    target: FromQuery[str | None] = None,
) -> Template:
    kb = rd.kibitz(request)
    entries, more = await audit.page(
        kb, before_id=before, action=action or None, target=target or None
    )
    query = {k: v for k, v in {"action": action, "target": target}.items() if v}
    return Template(
        "admin/audit.html",
        context=context(
            request,
            entries=entries,
            action=action or "",
            target=target or "",
            more=f"/admin/audit?{urlencode({**query, 'before': more})}" if more else None,
        ),
    )


@get("/audit/export", include_in_schema=False)
async def audit_export(
    request: Request[Any, Any, Any], format: FromQuery[str] = "csv"
) -> Response[str]:
    if format not in ("csv", "jsonl"):
        raise Invalid("invalid_format", "Export as csv or jsonl.", "format")
    body = await audit.export(rd.kibitz(request), format)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="kibitz-audit.{format}"',
            "Cache-Control": "no-store",
        },
    )


# -- accounts (admins only)


@get("/accounts", include_in_schema=False, guards=[admins_only])
async def accounts_page(
    request: Request[Any, Any, Any], notice: FromQuery[str | None] = None
) -> Template:
    rows, invites = await accounts.listing(rd.kibitz(request))
    return Template(
        "admin/accounts.html",
        context=context(request, accounts=rows, invites=invites, notice=notice),
    )


@post("/accounts/invite", include_in_schema=False, status_code=303, guards=[admins_only])
async def accounts_invite(request: Request[Any, Any, Any]) -> Response[Any]:
    data, _ = await _form(request)
    email = data.get("email", "")
    await accounts.invite(rd.kibitz(request), me(request).actor, email, data.get("role", ""))
    return _back("/admin/accounts", notice=f"Invitation mailed to {email}.")


@post(
    "/accounts/{account_id:int}/{change:str}",
    include_in_schema=False,
    status_code=303,
    guards=[admins_only],
)
async def accounts_change(
    request: Request[Any, Any, Any], account_id: FromPath[int], change: FromPath[str]
) -> Response[Any]:
    kb = rd.kibitz(request)
    actor = me(request).actor
    if change in ("disable", "enable"):
        await accounts.set_disabled(kb, actor, account_id, change == "disable")
    elif change == "reset-totp":
        await accounts.disable_totp(kb, actor, account_id)
    else:
        raise Invalid("invalid_change", "Disable, enable or reset-totp.", "change")
    return _back("/admin/accounts", notice="Saved.")


def router(settings: Settings) -> Router:
    """Every dashboard route behind the moderators' guard, with log-in redirects."""
    from kibitz.web import (
        admin_funding,
        admin_mail,
        admin_passages,
        admin_porting,
        admin_thread_policy,
    )

    return Router(
        path="/admin",
        route_handlers=[
            queue_page,
            comments_action,
            comment_page,
            comment_edit,
            threads_page,
            thread_settings,
            *admin_thread_policy.ROUTES,
            reader_page,
            reader_export,
            reader_erase,
            bans_page,
            ban_create,
            ban_lift,
            audit_page,
            audit_export,
            accounts_page,
            accounts_invite,
            accounts_change,
            *auth.ACCOUNT_ROUTES,
            # funding, imports and inline feedback (kibitz/web/admin_*.py)
            *admin_funding.ROUTES,
            *admin_porting.ROUTES,
            *admin_passages.ROUTES,
            *admin_mail.ROUTES,
            uploads.router(settings, [*admin_funding.UPLOAD_ROUTES, *admin_porting.UPLOAD_ROUTES]),
        ],
        guards=auth.ADMIN_ROUTER_GUARDS,
        exception_handlers={auth.LoginRequired: auth.to_login},
        include_in_schema=False,
    )


PUBLIC_ROUTES = [auth.login_page, auth.login, auth.invite_page, auth.accept_invite]
