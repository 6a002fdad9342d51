"""Server-rendered HTML: the same services as the JSON API, readable without JavaScript."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from kibitz.models import SORTS
from kibitz.services import reading
from kibitz.web.reader import kibitz

SORT_LABELS = {"newest": "Newest", "oldest": "Oldest", "most_voted": "Most Voted", "best": "Best"}


@get("/", summary="The discussion of the site's home page", include_in_schema=False)
async def home(
    request: Request[Any, Any, Any],
    sort: FromQuery[str] = "newest",
    cursor: FromQuery[str | None] = None,
) -> Template:
    return await thread_view(request, "/", sort, cursor)


@get("/discussion", summary="A thread as a plain page", include_in_schema=False)
async def discussion(
    request: Request[Any, Any, Any],
    thread: FromQuery[str],
    sort: FromQuery[str] = "newest",
    cursor: FromQuery[str | None] = None,
) -> Template:
    return await thread_view(request, thread, sort, cursor)


async def thread_view(
    request: Request[Any, Any, Any], key: str, sort: str, cursor: str | None
) -> Template:
    kb = kibitz(request)
    sort_ = reading.check_sort(sort)
    page = await reading.load_page(kb, key, sort_, kb.settings.page_size, cursor)

    def link(**params: str) -> str:
        query = {"thread": key, "sort": sort_, **params}
        if request.url.path == "/":
            query.pop("thread")
        return f"{request.url.path}?{urlencode(query)}"

    return Template(
        template_name="thread.html",
        context={
            "site_name": kb.settings.site_name,
            "page": page,
            "sort": sort_,
            "sorts": [(s, SORT_LABELS[s], link(sort=s)) for s in SORTS],
            "next_link": link(cursor=page.next_cursor) if page.next_cursor else None,
            "first_link": link() if cursor else None,
        },
    )
