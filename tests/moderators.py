"""Plain functions for moderation tests: accounts, logged-in dashboards, form posts."""

from __future__ import annotations

import re
from typing import Any

import httpx

from kibitz.services import accounts

PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def csrf(client: httpx.AsyncClient, page: str = "/admin/login") -> str:
    """A CSRF token for this client (its cookie is set by the page)."""
    r = await client.get(page)
    return csrf_of(r.text)


async def make_account(
    kb: Any,
    email: str = "ed@example.org",
    name: str = "Ed",
    role: str = "admin",
    password: str = PASSWORD,
) -> int:
    return await accounts.create(kb, email, name, password, role)


async def log_in(
    client: httpx.AsyncClient,
    email: str = "ed@example.org",
    password: str = PASSWORD,
    code: str = "",
    expect: int = 303,
) -> httpx.Response:
    token = await csrf(client)
    r = await client.post(
        "/admin/login",
        data={
            "_csrf_token": token,
            "email": email,
            "password": password,
            "code": code,
            "next": "/admin",
        },
    )
    assert r.status_code == expect, r.text[:500]
    return r


async def dashboard(make_client: Any, role: str = "admin", **settings: Any) -> httpx.AsyncClient:
    """A moderator's browser, logged in, on a fresh site."""
    client: httpx.AsyncClient = await make_client(**settings)
    email = f"{role}@example.org"
    await make_account(client.kb, email=email, name=role.title(), role=role)  # type: ignore[attr-defined]
    await log_in(client, email)
    return client


async def submit(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, Any],
    *,
    page: str = "/admin",
    expect: int = 303,
) -> httpx.Response:
    """Post a dashboard form the way the browser does: with the page's CSRF token."""
    token = await csrf(client, page)
    r = await client.post(path, data={"_csrf_token": token, **data})
    assert r.status_code == expect, r.text[:800]
    return r
