"""Atom feeds of recent comments, for feed readers and for moderators who like them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import FromQuery

from kibitz.services import feeds
from kibitz.services import threads as thread_service
from kibitz.web.reader import kibitz

ATOM = "application/atom+xml; charset=utf-8"


@get("/feeds/recent.atom", summary="Recent comments on the whole site", tags=["feeds"])
async def site_feed(request: Request[Any, Any, Any]) -> Response[str]:
    kb = kibitz(request)
    items = await feeds.recent(kb)
    url = f"{kb.settings.public_origin}/feeds/recent.atom"
    body = feeds.atom(
        kb, items, title=f"Recent comments on {kb.settings.site_name}", self_url=url, feed_id=url
    )
    return Response(body, media_type=ATOM)


@get("/feeds/thread.atom", summary="Recent comments on one thread", tags=["feeds"])
async def thread_feed(request: Request[Any, Any, Any], thread: FromQuery[str]) -> Response[str]:
    kb = kibitz(request)
    key = thread_service.check_key(thread)
    items = await feeds.recent(kb, key)
    url = f"{kb.settings.public_origin}/feeds/thread.atom?thread={quote(key, safe='')}"
    body = feeds.atom(kb, items, title=f"Comments on {key}", self_url=url, feed_id=url)
    return Response(body, media_type=ATOM)
