"""Who may use the dashboard: log-in (rate-limited), sessions in an HttpOnly cookie scoped to
/admin, invitations, one's own password and second factor, and the guards every dashboard
route goes through (``ADMIN_ROUTER_GUARDS`` on the /admin router, ``admins_only`` on top)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from kibitz.context import Kibitz
from kibitz.services import accounts
from kibitz.services.accounts import Moderator
from kibitz.services.addresses import email_key
from kibitz.services.errors import Forbidden, RateLimited, ServiceError, Unauthorized
from kibitz.web import reader as rd

SESSION_COOKIE = "kibitz_admin"
COOKIE_PATH = "/admin"
# the only /admin routes a visitor without a session may use
PUBLIC_PATHS = frozenset({"/admin/login", "/admin/invite"})


class LoginRequired(Unauthorized):
    def __init__(self) -> None:
        super().__init__("login_required", "Log in to the dashboard first.")


async def moderators_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A live session of an enabled account, or no entry."""
    kb: Kibitz = connection.app.state.kibitz
    me = await accounts.session(kb, connection.cookies.get(SESSION_COOKIE))
    if me is None:
        raise LoginRequired()
    connection.state.moderator = me


async def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """After ``moderators_only``: the account must be an admin's."""
    me: Moderator | None = connection.state.get("moderator")
    if me is None:
        raise LoginRequired()
    if not me.is_admin:
        raise Forbidden("admins_only", "Only admins can do this.")


ADMIN_ROUTER_GUARDS = [moderators_only]


def to_login(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    """A browser goes to the log-in page (and comes back after); a program gets JSON 401."""
    if "text/html" in request.headers.get("accept", ""):
        back = request.url.path if request.method == "GET" else "/admin"
        if request.method == "GET" and request.url.query:
            back += "?" + request.url.query
        return Redirect("/admin/login?" + urlencode({"next": back}), status_code=303)
    from kibitz.web.errors import service_error

    return service_error(request, exc)


def me(request: Request[Any, Any, Any]) -> Moderator:
    who: Moderator = request.state.moderator
    return who


def session_cookie(kb: Kibitz, token: str, *, expire: bool = False) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="" if expire else token,
        path=COOKIE_PATH,
        httponly=True,
        secure=kb.settings.cookie_secure,
        samesite="lax",
        max_age=0 if expire else kb.settings.admin_session_hours * 3600,
    )


def context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    kb = rd.kibitz(request)
    return {"site_name": kb.settings.site_name, "me": request.state.get("moderator"), **extra}


def safe_next(target: str | None) -> str:
    """Only back into the dashboard: never to another site after logging in."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


@get("/admin/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Template:
    return Template("admin/login.html", context=context(request, next=safe_next(next)))


@post("/admin/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    email = data.get("email", "")
    who, _ = rd.reader(request)
    checks = [("login.ip", who.ip_hash), ("login.account", email_key(email) or None)]
    verdict = await kb.limiter.check(checks)
    try:
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after)
        found = await accounts.authenticate(
            kb, email, data.get("password", ""), data.get("code", "")
        )
    except ServiceError as exc:
        page = Template(
            "admin/login.html",
            context=context(
                request, next=safe_next(data.get("next")), error=exc.message, email=email
            ),
            status_code=exc.status,
        )
        if isinstance(exc, RateLimited):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    token = await accounts.start_session(kb, found.id)
    redirect = Redirect(safe_next(data.get("next")), status_code=303)
    redirect.set_cookie(session_cookie(kb, token))
    return redirect


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    await accounts.end_session(kb, request.cookies.get(SESSION_COOKIE))
    redirect = Redirect("/admin/login", status_code=303)
    redirect.set_cookie(session_cookie(kb, "", expire=True))
    return redirect


@get("/admin/invite", include_in_schema=False)
async def invite_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    found = await accounts.invitation(rd.kibitz(request), token)
    return Template("admin/invite.html", context=context(request, invite=found, token=token))


@post("/admin/invite", include_in_schema=False, status_code=303)
async def accept_invite(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    token = data.get("token", "")
    try:
        account_id = await accounts.accept(
            kb, token, data.get("name", ""), data.get("password", "")
        )
    except ServiceError as exc:
        if exc.code == "invalid_link":
            raise
        found = await accounts.invitation(kb, token)
        return Template(
            "admin/invite.html",
            status_code=exc.status,
            context=context(
                request, invite=found, token=token, error=exc.message, name=data.get("name", "")
            ),
        )
    session = await accounts.start_session(kb, account_id)
    redirect = Redirect("/admin", status_code=303)
    redirect.set_cookie(session_cookie(kb, session))
    return redirect


# -- one's own account (behind the guards: registered on the /admin router)


@get("/account", include_in_schema=False)
async def account_page(
    request: Request[Any, Any, Any], saved: FromQuery[str | None] = None
) -> Template:
    return Template("admin/account.html", context=context(request, saved=saved))


@post("/account/password", include_in_schema=False, status_code=303)
async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    try:
        await accounts.change_password(
            kb,
            me(request),
            data.get("password", ""),
            data.get("new_password", ""),
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except ServiceError as exc:
        return Template(
            "admin/account.html",
            status_code=exc.status,
            context=context(request, error=exc.message),
        )
    return Redirect("/admin/account?saved=password", status_code=303)


@post("/account/totp/setup", include_in_schema=False, status_code=200)
async def totp_setup(request: Request[Any, Any, Any]) -> Template:
    """Show a new secret (as a QR code and as text); it is kept only once a code proves the
    phone has it. The secret travels in the form, signed, not in the database."""
    kb = rd.kibitz(request)
    secret = accounts.new_totp_secret()
    return _totp_page(request, kb, secret)


def _totp_page(
    request: Request[Any, Any, Any], kb: Kibitz, secret: str, error: str | None = None
) -> Template:
    uri = accounts.totp_uri(me(request), secret, kb.settings.site_name)
    return Template(
        "admin/totp.html",
        status_code=422 if error else 200,
        context=context(
            request,
            secret=secret,
            signed=kb.signer.sign(f"totp:{me(request).id}", secret),
            qr=accounts.totp_qr(uri),
            uri=uri,
            error=error,
        ),
    )


@post("/account/totp/enable", include_in_schema=False, status_code=303)
async def totp_enable(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    secret = kb.signer.unsign(f"totp:{me(request).id}", data.get("signed", ""))
    if secret is None:
        return Redirect("/admin/account", status_code=303)
    try:
        await accounts.enable_totp(kb, me(request), secret, data.get("code", ""))
    except ServiceError as exc:
        return _totp_page(request, kb, secret, exc.message)
    return Redirect("/admin/account?saved=totp", status_code=303)


@post("/account/totp/disable", include_in_schema=False, status_code=303)
async def totp_disable(request: Request[Any, Any, Any]) -> Response[Any]:
    kb = rd.kibitz(request)
    data = await _form(request)
    mine = me(request)
    try:  # the password again: a session left open must not be enough
        await accounts.authenticate(kb, mine.email, data.get("password", ""), data.get("code", ""))
    except ServiceError:
        return Template(
            "admin/account.html",
            status_code=403,
            context=context(request, error="Wrong password or code; the second factor stays on."),
        )
    await accounts.disable_totp(kb, mine.actor, mine.id)
    return Redirect("/admin/account?saved=totp-off", status_code=303)


ACCOUNT_ROUTES = [account_page, change_password, totp_setup, totp_enable, totp_disable, logout]
