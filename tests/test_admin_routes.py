"""Every dashboard route refuses anyone without a moderator's session, found by listing ALL
routes of the app (a route added tomorrow is checked too); admin-only routes refuse
moderators; forms refuse requests without a CSRF token; log-in is rate-limited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar, get, post

from kibitz.app import create_app
from kibitz.db.tables import accounts, audit_log, comments, ledger
from kibitz.settings import Settings
from kibitz.web import admin_auth
from tests.conftest import ORIGIN
from tests.factories import post_comment
from tests.funding_factories import make_campaign
from tests.moderators import PASSWORD, csrf, csrf_of, dashboard, log_in, make_account, submit

pytestmark = pytest.mark.usefixtures("cheap_hashing")

# paths of the dashboard a visitor may open without a session: logging in, and accepting an
# invitation (its token authorises it)
PUBLIC = admin_auth.PUBLIC_PATHS
SAMPLE = {"int": "1", "str": "disable", "path": "x"}


def dashboard_routes(app: Litestar) -> Iterator[tuple[str, str, Any]]:
    """(method, concrete path, handler) of every route of the app under /admin."""
    for route in app.routes:
        path = getattr(route, "path", "")
        if not (path == "/admin" or path.startswith("/admin/")):
            continue
        concrete = re.sub(r"\{[^}:]+:(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                yield method, concrete, handler


def unguarded(app: Litestar) -> list[str]:
    """Dashboard routes whose guards do not include the moderators' session check."""
    bad = []
    for method, path, handler in dashboard_routes(app):
        if path in PUBLIC:
            continue
        guards = [getattr(g, "func", g) for g in handler.resolve_guards()]
        if admin_auth.moderators_only not in guards:
            bad.append(f"{method} {path}")
    return bad


def test_every_dashboard_route_has_the_guard() -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    routes = list(dashboard_routes(app))
    assert len({p for _, p, _ in routes}) >= 20  # the listing really sees the dashboard
    assert unguarded(app) == []


def test_the_listing_catches_a_route_that_forgot_its_guard() -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:"))

    @get("/admin/forgotten", include_in_schema=False)
    async def forgotten() -> str:
        return "secrets"

    app.register(forgotten)
    assert unguarded(app) == ["GET /admin/forgotten", "OPTIONS /admin/forgotten"]


async def _try_every_route(client: httpx.AsyncClient, app: Litestar) -> list[str]:
    """Call every dashboard route as this client; list those that did not refuse."""
    token = await csrf(client)
    let_in = []
    for method, path, _ in dashboard_routes(app):
        if path in PUBLIC:
            continue
        for accept in ("text/html", "application/json"):
            r = await client.request(
                method,
                path,
                headers={"accept": accept, "x-kibitz-csrf": token},
                data={"_csrf_token": token} if method == "POST" else None,
            )
            refused = r.status_code in (401, 403) or (
                r.status_code == 303 and r.headers["location"].startswith("/admin/login")
            )
            if not refused:
                let_in.append(f"{method} {path} ({accept}): {r.status_code}")
    return let_in


async def test_anonymous_and_reader_requests_are_refused_everywhere(make_client: Any) -> None:
    anonymous = await make_client()
    app = create_app(kb=anonymous.kb)
    await make_account(anonymous.kb)
    reader = await make_client(kb=anonymous.kb)
    await post_comment(reader, "I am a reader with a voter cookie")
    reader.cookies.set(admin_auth.SESSION_COOKIE, "forged-session-token", path="/admin")

    async def logged() -> int:
        query = sa.select(sa.func.count()).select_from(audit_log)
        return int(await anonymous.kb.db.read(lambda c: c.execute(query).scalar_one()))

    before = await logged()
    assert await _try_every_route(anonymous, app) == []
    assert await _try_every_route(reader, app) == []
    assert await logged() == before  # and nothing happened


async def test_a_refused_browser_goes_to_the_log_in_page_and_comes_back(make_client: Any) -> None:
    client = await make_client()
    await make_account(client.kb)
    r = await client.get("/admin/bans?past=true", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == (
        "/admin/login?next=%2Fadmin%2Fbans%3Fpast%3Dtrue"
    )
    page = await client.get(r.headers["location"])
    token = csrf_of(page.text)
    done = await client.post(
        "/admin/login",
        data={
            "_csrf_token": token,
            "email": "ed@example.org",
            "password": PASSWORD,
            "next": "/admin/bans?past=true",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/bans?past=true"
    evil = await client.post(
        "/admin/login",
        data={
            "_csrf_token": token,
            "email": "ed@example.org",
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert evil.headers["location"] == "/admin"
    r = await client.get("/admin/bans", headers={"accept": "application/json"})
    assert r.status_code == 200


async def test_moderators_cannot_manage_accounts(make_client: Any) -> None:
    moderator = await dashboard(make_client, role="moderator")
    app = create_app(kb=moderator.kb)
    token = await csrf(moderator, "/admin")
    admin_only = [
        (m, p)
        for m, p, h in dashboard_routes(app)
        if admin_auth.admins_only in [getattr(g, "func", g) for g in h.resolve_guards()]
        and m != "OPTIONS"
    ]
    assert {p for _, p in admin_only} >= {"/admin/accounts", "/admin/accounts/invite"}
    for method, path in admin_only:
        r = await moderator.request(
            method, path, data={"_csrf_token": token} if method == "POST" else None
        )
        assert r.status_code == 403, (method, path, r.status_code)
    assert (await moderator.get("/admin/comments")).status_code == 200


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# what may be posted without the token, stated here rather than read from the app's
# configuration (a pattern there that matches too much must fail this walk): the JSON API
# (JSON only, from allowed origins), one-click unsubscribe from mail clients (its token
# authorises it) and Stripe's webhook (its signature does)
EXEMPT_PREFIX = "/api/"
EXEMPT = {"/subscriptions/unsubscribe", "/webhooks/stripe"}
# "api" as every text parameter: a campaign called "api" puts /api/ inside a dashboard path
CSRF_SAMPLE = {**SAMPLE, "str": "api"}


def unsafe_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, concrete path) of every route of the app that changes something, except
    the exempt ones."""
    for route in app.routes:
        path = getattr(route, "path", "")
        concrete = re.sub(r"\{[^}:]+:(\w+)\}", lambda m: CSRF_SAMPLE[m.group(1)], path)
        if concrete.startswith(EXEMPT_PREFIX) or concrete in EXEMPT:
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(set(handler.http_methods) & UNSAFE):
                yield method, concrete


async def _without_the_token(client: httpx.AsyncClient, app: Litestar) -> list[str]:
    """Post to every form of the app with the client's cookies (session and CSRF cookie)
    but no token, or a forged one; list the routes that did not refuse for want of it."""
    let_in = []
    for method, path in unsafe_routes(app):
        for data in ({"confirm": "erase"}, {"confirm": "erase", "_csrf_token": "forged"}):
            r = await client.request(
                method, path, data=data, headers={"accept": "application/json"}
            )
            if r.status_code != 403 or "CSRF" not in r.text:
                let_in.append(f"{method} {path}: {r.status_code}")
    return let_in


async def test_every_form_of_the_app_refuses_a_request_without_its_csrf_token(
    make_client: Any,
) -> None:
    """Every POST, PUT, PATCH and DELETE route outside the JSON API, found by listing ALL routes
    (a form added tomorrow is checked too), refuses a logged-in admin's request that carries
    the CSRF cookie but not the token; and nothing happens."""
    admin = await dashboard(make_client)
    posted = await post_comment(admin, "To be approved")
    app = create_app(kb=admin.kb)
    await csrf(admin, "/admin")  # the cookie half of the pair, as a browser has it
    routes = list(unsafe_routes(app))
    assert len(routes) >= 30 and ("POST", "/admin/funding/campaigns/api/entries") in routes
    assert ("POST", "/my-data") in routes and ("POST", "/admin/login") in routes

    def logged(conn: Any) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())

    before = await admin.kb.db.read(logged)
    assert await _without_the_token(admin, app) == []
    assert await admin.kb.db.read(logged) == before
    query = sa.select(comments.c.status).where(comments.c.id == posted["id"])
    assert await admin.kb.db.read(lambda c: c.execute(query).scalar_one()) == "approved"
    # still logged in: log-out was refused too
    assert (await admin.get("/admin/comments")).status_code == 200


async def test_the_walk_catches_a_form_that_left_the_csrf_check_out(make_client: Any) -> None:
    admin = await dashboard(make_client)
    app = create_app(kb=admin.kb)

    @post("/admin/careless", include_in_schema=False, exclude_from_csrf=True, status_code=200)
    async def careless() -> str:
        return "done"

    app.register(careless)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as browser:
        browser.cookies = admin.cookies
        assert await _without_the_token(browser, app) == [
            "POST /admin/careless: 200",
            "POST /admin/careless: 200",
        ]


async def test_a_dashboard_path_with_api_in_it_still_needs_the_token(make_client: Any) -> None:
    """The API's exemption is anchored at the start of the path: a campaign called "api" has
    /admin/funding/campaigns/api/entries, whose form needs its token like any other."""
    admin = await dashboard(make_client)
    await make_campaign(admin.kb, "api")
    form = {"kind": "donation", "amount": "5", "date": "2021-06-03", "method": "cash"}
    path = "/admin/funding/campaigns/api/entries"
    r = await admin.post(path, data=form, headers={"accept": "application/json"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert await admin.kb.db.read(lambda c: c.execute(sa.select(ledger.c.id)).all()) == []
    await submit(admin, path, form, page=path)  # with the token it is recorded
    assert len(await admin.kb.db.read(lambda c: c.execute(sa.select(ledger.c.id)).all())) == 1
    # the exemptions themselves still work: the API and one-click unsubscribe
    assert (await admin.post("/api/v1/rights", json={"email": "x@example.org"})).status_code == 202
    r = await admin.post("/subscriptions/unsubscribe", params={"token": "forged"})
    assert "CSRF" not in r.text  # refused for its token alone


async def test_the_log_in_form_needs_its_token_too(make_client: Any) -> None:
    """No logging a victim into an attacker's account."""
    client = await make_client()
    await make_account(client.kb)
    r = await client.post("/admin/login", data={"email": "ed@example.org", "password": PASSWORD})
    assert r.status_code == 403
    assert (await client.get("/admin/comments")).status_code == 401


async def test_log_in_is_rate_limited(make_client: Any) -> None:
    client = await make_client(rate_limits="login.account=5/900,login.ip=20/900")
    await make_account(client.kb)
    for _ in range(5):
        r = await log_in(client, password="wrong guess number one", expect=401)
        assert "Wrong e-mail address, password or code" in r.text
    r = await log_in(client, expect=429)  # even the right password, until the window passes
    assert int(r.headers["retry-after"]) > 0
    # another account from the same address still gets its own tries, up to the IP limit
    await make_account(client.kb, email="mo@example.org", name="Mo")
    await log_in(client, email="mo@example.org")
    other = await make_client(rate_limits="login.ip=3/900")  # the same site, a fresh limiter
    for _ in range(3):
        await log_in(other, email=f"nobody{_}@example.org", expect=401)
    await log_in(other, email="mo@example.org", expect=429)


async def test_the_session_cookie_is_httponly_samesite_and_scoped(make_client: Any) -> None:
    site = await make_client(public_url="https://comments.example.org")
    await make_account(site.kb)
    transport = httpx.ASGITransport(app=create_app(kb=site.kb), client=("203.0.113.7", 1))
    client = httpx.AsyncClient(transport=transport, base_url="https://comments.example.org")
    client.kb = site.kb  # type: ignore[attr-defined]
    r = await log_in(client)
    await client.aclose()
    cookie = r.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/admin"):
        assert flag in cookie
    stored = await client.kb.db.read(
        lambda c: c.execute(sa.text("SELECT token_hash FROM admin_sessions")).scalar_one()
    )
    assert stored not in cookie  # only the hash is kept


async def test_log_out_ends_the_session_and_disabled_accounts_lose_theirs(make_client: Any) -> None:
    admin = await dashboard(make_client)
    other = await make_client(kb=admin.kb)
    mod_id = await make_account(admin.kb, email="mo@example.org", name="Mo", role="moderator")
    await log_in(other, "mo@example.org")
    assert (await other.get("/admin/comments")).status_code == 200

    await submit(admin, f"/admin/accounts/{mod_id}/disable", {}, page="/admin/accounts")
    assert (await other.get("/admin/comments")).status_code == 401
    await log_in(other, "mo@example.org", expect=401)
    await submit(admin, "/admin/logout", {})
    assert (await admin.get("/admin/comments")).status_code == 401
    n = await admin.kb.db.read(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one()
    )
    assert n == 2


@pytest.mark.parametrize("path", sorted(PUBLIC))
async def test_the_public_dashboard_pages_need_no_session(client: Any, path: str) -> None:
    r = await client.get(path, params={"token": "x"} if path == "/admin/invite" else None)
    assert r.status_code in (200, 403)  # an invitation page refuses a bad token itself


async def test_moderation_outside_the_dashboard_needs_a_signed_link(make_client: Any) -> None:
    """The mail links (approve/reject, erase one's data) are authorised by their signed token
    alone: without a genuine one they refuse and change nothing."""
    client = await make_client(moderation="everyone")
    held = await post_comment(client, "Waiting", expect=202)
    token = await csrf(client, "/my-data")
    for path in ("/moderate", "/my-data/erase"):
        for forged in ("", f"{held['id']}:approve:9999999999.abc", "garbage"):
            r = await client.post(path, data={"_csrf_token": token, "token": forged})
            assert r.status_code in (403, 422), (path, forged, r.status_code)
    query = sa.select(comments.c.status).where(comments.c.id == held["id"])
    assert await client.kb.db.read(lambda c: c.execute(query).scalar_one()) == "pending"
