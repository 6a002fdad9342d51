"""Files uploaded to the dashboard (another system's export, a CSV of gifts): their own size
limit, and the CSRF check after the log-in check.

Every other form is checked for its CSRF token by the app's middleware, which reads the body
before any guard runs. For an upload of up to ``KIBITZ_UPLOAD_MAX_BYTES`` that would let
anyone without a session make the server read and spool hundreds of megabytes; so upload
routes leave the middleware out (``OPT``) and check the same token, against the same cookie,
in a guard that runs after the session guards (``csrf_after_login``). The limit is a router of
its own around the upload routes, since the app's limit (``KIBITZ_MAX_REQUEST_BYTES``) stays
small for everything else.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash

from kibitz.settings import Settings

OPT: dict[str, Any] = {"exclude_from_csrf": True}


def _secret_of(token: str, secret: str) -> str | None:
    """The random part of a token, if its signature is right (Litestar's token format)."""
    if len(token) <= CSRF_SECRET_LENGTH:
        return None
    part, signature = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    expected = generate_csrf_hash(token=part, secret=secret)
    return part if hmac.compare_digest(signature, expected) else None


async def csrf_after_login(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The CSRF token of the form (or the header), matched against the cookie."""
    config = connection.app.csrf_config
    assert config is not None
    request: Request[Any, Any, Any] = Request(connection.scope, connection.receive)
    token = connection.headers.get(config.header_name)
    if not token:
        # the parsed form stays in the scope's state: the handler reads it from there
        value = (await request.form()).get("_csrf_token")
        token = value if isinstance(value, str) else None
    cookie = connection.cookies.get(config.cookie_name)
    sent = _secret_of(token, config.secret) if token else None
    kept = _secret_of(cookie, config.secret) if cookie else None
    if sent is None or kept is None or not hmac.compare_digest(sent, kept):
        await close_files(request)
        raise PermissionDeniedException("CSRF token verification failed")


def router(settings: Settings, handlers: list[Any]) -> Router:
    """The upload routes, with the upload limit (nested in the dashboard's router)."""
    return Router(
        path="/",
        route_handlers=handlers,
        request_max_body_size=settings.upload_max_bytes,
        include_in_schema=False,
    )


async def close_files(request: Request[Any, Any, Any]) -> None:
    """Close (and so delete) every uploaded file of the request's form."""
    for _, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            await value.close()


async def file_of(request: Request[Any, Any, Any], name: str) -> UploadFile | None:
    """The uploaded file of a form field, or None when none was chosen."""
    value = (await request.form()).get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None
