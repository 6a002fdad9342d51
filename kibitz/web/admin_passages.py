"""The dashboard's inline feedback: per article, its passages with their questions and counts
("passage changed" for those the article lost), the comments on each, and asking a question
by selecting text in the article (static/admin-passages.js; without it, by typing the
passage), rewording and closing questions.

Moderators and admins alike: a question is editorial, like pinning or featuring a comment,
which moderators already do; each one is logged, and closing it takes it back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from kibitz.models import NewQuestion, QuestionUpdate
from kibitz.services import passages, reading
from kibitz.services import threads as thread_service
from kibitz.services.errors import Invalid, ServiceError
from kibitz.web import reader as rd
from kibitz.web.admin_auth import context, me

BASE = "/admin/passages"
PAGE = 50


def _thread_url(key: str, **extra: str) -> str:
    return f"{BASE}/thread?{urlencode({'key': key, **extra})}"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@get("/passages", include_in_schema=False)
async def overview(request: Request[Any, Any, Any]) -> Template:
    pages = await passages.dashboard_overview(rd.kibitz(request))
    return Template("admin/passages.html", context=context(request, section="passages",
                                                           pages=pages))  # fmt: skip


async def _thread_view(
    request: Request[Any, Any, Any], key: str, status: int = 200, **extra: Any
) -> Template:
    kb = rd.kibitz(request)
    key = thread_service.check_key(key)
    found = await passages.get_list(kb, key)
    html = await passages.article_html(kb, key)
    info = await kb.db.read(lambda conn: thread_service.get_row(conn, key))
    values = extra.pop("values", {})
    return Template(
        "admin/passages_thread.html",
        status_code=status,
        context=context(
            request, section="passages", key=key, found=found, article_html=html,
            title=(info.title if info is not None else "") or key, thread_known=info is not None,
            values=values, **extra,
        ),
    )  # fmt: skip


@get("/passages/thread", include_in_schema=False)
async def thread_page(
    request: Request[Any, Any, Any], key: FromQuery[str], notice: FromQuery[str | None] = None
) -> Template:
    return await _thread_view(request, key, notice=notice)


@post("/passages/ask", include_in_schema=False, status_code=303)
async def ask(request: Request[Any, Any, Any]) -> Response[Any]:
    """A question on the passage the moderator selected (or typed)."""
    kb = rd.kibitz(request)
    data = await _form(request)
    key = data.get("thread", "")
    start = data.get("start", "").strip()
    try:
        if start and not start.isdigit():
            raise Invalid("invalid_anchor", "The passage's position is a number.", "start")
        question = NewQuestion(
            thread=key, question=data.get("question", ""), exact=data.get("exact", ""),
            prefix=data.get("prefix", ""), suffix=data.get("suffix", ""),
            start=int(start) if start else None,
        )  # fmt: skip
        made = await passages.ask(kb, question, me(request).actor)
    except ServiceError as exc:
        if exc.code in ("thread_not_found", "invalid_key"):
            raise
        return await _thread_view(request, key, exc.status, values=data, error=exc.message,
                                  field=exc.field)  # fmt: skip
    return Redirect(_thread_url(key, notice="Question asked.") + f"#passage-{made.id}",
                    status_code=303)  # fmt: skip


@get("/passages/{passage_id:int}", include_in_schema=False)
async def passage_page(
    request: Request[Any, Any, Any],
    passage_id: FromPath[int],
    cursor: FromQuery[str | None] = None,
    notice: FromQuery[str | None] = None,
) -> Template:
    """One passage: its question and the comments on it (those published; held ones wait in
    the queue, quoting the passage)."""
    kb = rd.kibitz(request)
    key = await passages.passage_thread(kb, passage_id)
    found = await passages.get_list(kb, key)
    passage = next((p for p in found.passages if p.id == passage_id), None)
    page = await reading.load_page(kb, key, "newest", PAGE, cursor, str(passage_id))
    more = None
    if page.next_cursor:
        more = f"{BASE}/{passage_id}?{urlencode({'cursor': page.next_cursor})}"
    return Template(
        "admin/passage.html",
        context=context(request, section="passages", key=key, p=passage, page=page, more=more,
                        passage_id=passage_id, notice=notice),
    )  # fmt: skip


@post("/passages/{passage_id:int}", include_in_schema=False, status_code=303)
async def update(request: Request[Any, Any, Any], passage_id: FromPath[int]) -> Response[Any]:
    """Reword the question (``question``), or close or reopen it (``state``)."""
    kb = rd.kibitz(request)
    data = await _form(request)
    state = data.get("state")
    change = QuestionUpdate(
        question=data.get("question") if "question" in data else None,
        active={"close": False, "reopen": True}.get(state or ""),
    )
    key = await passages.passage_thread(kb, passage_id)
    try:
        await passages.update_question(kb, passage_id, change, me(request).actor)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return await _thread_view(request, key, exc.status, error=exc.message, field="question")
    said = {"close": "Question closed: its answers stay.", "reopen": "Question reopened."}
    text = said.get(state or "", "Question saved.")
    back = data.get("back") or ""
    if back == "passage":
        return Redirect(f"{BASE}/{passage_id}?{urlencode({'notice': text})}", status_code=303)
    return Redirect(_thread_url(key, notice=text) + f"#passage-{passage_id}", status_code=303)


ROUTES = [overview, thread_page, ask, passage_page, update]
