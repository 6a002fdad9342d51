"""Acting on a held comment from a moderator's mail: the link opens a page, the button acts."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Template

from kibitz.services import moderation, moderator_alerts
from kibitz.web import reader as rd


def _context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    kb = rd.kibitz(request)
    return {"site_name": kb.settings.site_name, "support_url": kb.settings.support_link, **extra}


@get("/moderate", include_in_schema=False)
async def moderate_page(request: Request[Any, Any, Any], token: FromQuery[str]) -> Template:
    link = moderator_alerts.read_token(rd.kibitz(request), token)
    return Template("moderate.html", context=_context(
        request, token=token, action=link.action, comment_id=link.comment_id))  # fmt: skip


@post("/moderate", include_in_schema=False, status_code=200)
async def moderate(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    kb = rd.kibitz(request)
    link = moderator_alerts.read_token(kb, data.get("token", ""))
    comment = await moderation.decide(kb, link.comment_id, link.action, held=link.version)
    return Template("moderate.html", context=_context(
        request, done=comment.status, comment_id=link.comment_id))  # fmt: skip
