"""Every error leaves as ``{"error": {"code", "message", "field"?}}``, never as a bare 500."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from kibitz.models import ErrorBody, ErrorDetail
from kibitz.services.errors import RateLimited, ServiceError

log = logging.getLogger("kibitz")

_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MISSING_PARAM = re.compile(r"Missing required \w+ parameter '([^']+)'")
NO_BODY = "The request has no JSON body."
_GENERIC = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "This needs an API token."),
    403: ("forbidden", "Not allowed."),
    404: ("not_found", "Nothing here."),
    405: ("method_not_allowed", "That method is not allowed here."),
    413: ("too_large", "The request is too large."),
    415: ("unsupported_media_type", "Send JSON (Content-Type: application/json)."),
    429: ("rate_limited", "Too many requests."),
}


def error_response(
    status: int, code: str, message: str, field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:  # fmt: skip
    body = msgspec.json.encode(ErrorBody(ErrorDetail(code=code, message=message, field=field)))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    """A reader's browser asking for a page gets an HTML error page, everyone else JSON."""
    path = request.url.path
    return not path.startswith(("/api/", "/feeds/", "/static/")) and "text/html" in (
        request.headers.get("accept", "")
    )


def _answer(
    request: Request[Any, Any, Any], status: int, code: str, message: str,
    field: str | None = None, headers: dict[str, str] | None = None,
) -> Response[Any]:  # fmt: skip
    if _wants_page(request):
        kb = request.app.state.kibitz
        context = {"site_name": kb.settings.site_name, "support_url": kb.settings.support_link,
                   "status": status, "message": message}  # fmt: skip
        return Template("error.html", context=context, status_code=status, headers=headers)
    return error_response(status, code, message, field, headers)


def service_error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return _answer(request, exc.status, exc.code, exc.message, exc.field, headers)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    problems = exc.extra if isinstance(exc.extra, list) else []
    first: dict[str, Any] = problems[0] if problems and isinstance(problems[0], dict) else {}
    message = str(first.get("message") or exc.detail)
    field = first.get("key")
    missing = _MISSING_FIELD.search(message) or _MISSING_PARAM.search(message)
    if missing:
        return error_response(
            422, "required", f"`{missing.group(1)}` is required.", missing.group(1)
        )
    if field == "data":
        if message.strip("'") == "data":  # no body at all (kibitz.web.boundaries says so first)
            return error_response(400, "malformed_json", NO_BODY, None)
        return error_response(422, "invalid", f"Request body: {message}.", None)
    return error_response(422, "invalid", f"{field}: {message}." if field else message, field)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code, message = _GENERIC.get(status, ("error", exc.detail))
    if status == 400 and "json" in request.headers.get("content-type", ""):
        code, message = "malformed_json", f"The request body is not valid JSON ({exc.detail})."
    elif status in (400, 403) and exc.detail and exc.detail not in ("Bad Request", "Forbidden"):
        message = exc.detail
    return _answer(request, status, code, message, None, exc.headers)


def database_error(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    """The database is busy or unreachable: say so and when to retry; nothing was written."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return _answer(
        request, 503, "unavailable", "The discussion is briefly unavailable; please retry.",
        headers={"Retry-After": "5"},
    )  # fmt: skip


def _out_of_range(exc: BaseException) -> bool:
    """A value the database cannot hold: Python's OverflowError (SQLite binding an int past
    64 bits) or the driver refusing a parameter (asyncpg: "value out of int64 range"), which
    SQLAlchemy wraps in a plain DBAPIError; DataError is the database's own verdict on a
    value (SQLSTATE class 22)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (OverflowError, DataError)) or _asyncpg_refused(seen):
            return True
        seen = seen.__cause__
    return False


def _asyncpg_refused(exc: BaseException) -> bool:
    """asyncpg's DataError. Looked up among the loaded modules: asyncpg is loaded only with
    a PostgreSQL database (3 MB per worker), and nothing it did not load raised it."""
    asyncpg = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(exc, asyncpg.exceptions.DataError)


def value_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value in the request that no column can hold (a number past 64 bits): the
    request's fault, answered 422; anything else the database refused is ours: a 500,
    logged in full."""
    if not _out_of_range(exc):
        return internal_error(request, exc)
    # the boundaries (kibitz/web/boundaries.py, the models' Id) should have caught it: log
    # where it got through so that it can be caught there
    log.warning(
        "out-of-range value on %s %s: %s", request.method, request.url.path, exc, exc_info=exc
    )
    return _answer(request, 422, "out_of_range", "A value in the request is out of range.")


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(
        request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error",
        "Something went wrong on our side.",
    )  # fmt: skip


HANDLERS: dict[type[Exception], Any] = {
    ServiceError: service_error,
    ValidationException: validation_error,
    OperationalError: database_error,
    DBAPIError: value_error,
    OverflowError: value_error,
    HTTPException: http_error,
    Exception: internal_error,
}
