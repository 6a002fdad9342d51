"""Who is asking: the reader's signed cookies (or the widget's reader header), their keyed IP
hash, and their rate limits.

A reader is named by their voter id, signed. Browsers carry it in the ``kibitz_voter``
cookie; where a browser keeps no cookies for an embedded discussion (third-party cookies
blocked), the widget carries the same signed value, which ``GET /api/v1/me`` hands out, in
the ``X-Kibitz-Reader`` header. A valid cookie wins over the header. On https the cookies
are ``SameSite=None; Secure; Partitioned`` (CHIPS): a browser that partitions third-party
cookies keeps them for the embedding site instead of dropping them.
"""

from __future__ import annotations

import string
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.datastructures import Cookie

from kibitz.context import Kibitz
from kibitz.models import Reader
from kibitz.security import new_token
from kibitz.services.errors import Forbidden, RateLimited

VOTER_COOKIE = "kibitz_voter"
VOTER_MAX_AGE = 365 * 24 * 3600
EDIT_HEADER = "x-kibitz-edit-token"
READER_HEADER = "x-kibitz-reader"


# what a cookie value may hold unquoted (http.cookies' legal characters)
_PLAIN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~:")


class ReaderCookie(Cookie):
    """The reader's cookies, their header written directly: Litestar goes through
    ``http.cookies.SimpleCookie`` (64 µs a cookie against 3 µs; a new reader's comment
    sets two). The header is the one SimpleCookie writes (attributes in its order); a
    cookie this does not cover (an expiry date, a domain, a value to quote) is left to it."""

    partitioned: ClassVar[bool] = False

    def to_header(self, **kwargs: Any) -> str:
        value = self.value or ""
        if (
            self.expires is not None
            or self.domain is not None
            or not value
            or not _PLAIN.issuperset(value)
        ):
            text = super().to_header(**kwargs)
        else:
            parts = [f"{self.key}={value}"]
            if self.httponly:
                parts.append("HttpOnly")
            if self.max_age is not None:
                parts.append(f"Max-Age={int(self.max_age)}")
            if self.path:
                parts.append(f"Path={self.path}")
            if self.samesite:
                parts.append(f"SameSite={self.samesite}")
            if self.secure:
                parts.append("Secure")
            text = f"{kwargs.get('header', 'Set-Cookie:')} {'; '.join(parts)}".strip()
        return text + "; Partitioned" if self.partitioned else text


class PartitionedCookie(ReaderCookie):
    """A cookie with the ``Partitioned`` attribute (CHIPS), which Python 3.11's cookie
    writer does not know."""

    partitioned = True


def kibitz(request: Request[Any, Any, Any]) -> Kibitz:
    kb: Kibitz = request.app.state.kibitz
    return kb


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    if kibitz(request).settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


def reader(
    request: Request[Any, Any, Any], *, mint: bool = False, known: bool = False
) -> tuple[Reader, Cookie | None]:
    """The reader, and the voter cookie to set when ``mint`` and their browser sent none
    (a new reader gets a new voter id; one named by the header gets it as a cookie too).
    With ``known``, a request that names no reader is refused (403 ``reader_unknown``)."""
    kb = kibitz(request)
    voter = kb.signer.unsign("voter", request.cookies.get(VOTER_COOKIE))
    cookie = None
    if voter is None:
        voter = kb.signer.unsign("voter", request.headers.get(READER_HEADER))
        if voter is None and known:
            raise Forbidden(
                "reader_unknown",
                "Your browser did not say who you are: reload the page (it needs cookies or "
                "site data allowed) and try again.",
            )
        if mint:
            voter = voter or new_token(16)
            cookie = _cookie(kb, VOTER_COOKIE, reader_token(kb, voter), VOTER_MAX_AGE, "/")
    ip = client_ip(request)
    agent = request.headers.get("user-agent", "")[:500] or None
    return Reader(voter_id=voter, ip_hash=kb.signer.ip_hash(ip), ip=ip, user_agent=agent), cookie


def reader_token(kb: Kibitz, voter_id: str) -> str:
    """The signed voter id: the cookie's value, and what the widget sends as the header."""
    return kb.signer.sign("voter", voter_id)


def _cookie(kb: Kibitz, key: str, value: str, max_age: int, path: str) -> Cookie:
    # on https, a cookie an embedded discussion may keep: cross-site, partitioned by the
    # embedding site where the browser partitions (on plain http: first-party only)
    secure = kb.settings.cookie_secure
    kind = PartitionedCookie if secure else ReaderCookie
    return kind(
        key=key, value=value, max_age=max_age, path=path, httponly=True, secure=secure,
        samesite="none" if secure else "lax",
    )  # fmt: skip


def edit_cookie_name(comment_id: int) -> str:
    return f"kibitz_edit_{comment_id}"


def edit_cookie(kb: Kibitz, comment_id: int, token: str) -> Cookie:
    """The edit token, also kept in an HttpOnly cookie scoped to the comment's own URL."""
    value = kb.signer.sign(f"edit:{comment_id}", token)
    path = f"/api/v1/comments/{comment_id}"
    return _cookie(kb, edit_cookie_name(comment_id), value, kb.settings.edit_window_seconds, path)


def edit_token(request: Request[Any, Any, Any], comment_id: int) -> str | None:
    header = request.headers.get(EDIT_HEADER)
    if header:
        return header
    signed = request.cookies.get(edit_cookie_name(comment_id))
    return kibitz(request).signer.unsign(f"edit:{comment_id}", signed)


async def limit(request: Request[Any, Any, Any], action: str, who: Reader) -> None:
    """Count this request against ``<action>.voter`` and ``<action>.ip``; 429 when over."""
    limiter = kibitz(request).limiter
    checks = [(f"{action}.voter", who.voter_id), (f"{action}.ip", who.ip_hash)]
    verdict = await limiter.check([(n, s) for n, s in checks if n in limiter.limits])
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)


def with_cookies(response: Response[Any], *cookies: Cookie | None) -> Response[Any]:
    for c in cookies:
        if c is not None:
            response.set_cookie(c)
    return response
