"""The JSON API, version 1. Handlers parse, authorise, call a service and serialise."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from kibitz.cache import Entry
from kibitz.models import (
    Comment,
    CommentEdit,
    Counts,
    CountsIn,
    ErrorBody,
    GuestForm,
    Me,
    NewComment,
    NewThread,
    PostedComment,
    Preview,
    ReportIn,
    ReportResult,
    ThreadInfo,
    ThreadPage,
    ThreadUpdate,
    VoteIn,
    VoteResult,
)
from kibitz.services import comments as comment_service
from kibitz.services import counts as count_service
from kibitz.services import own, policies, reading
from kibitz.services import reports as report_service
from kibitz.services import threads as thread_service
from kibitz.services import tokens as token_service
from kibitz.services import votes as vote_service
from kibitz.services.errors import Forbidden, Unauthorized, UnsupportedMediaType
from kibitz.settings import origin_of
from kibitz.web import reader as rd
from kibitz.web.conditional import none_match

JSON = "application/json"
ERRORS = {
    code: ResponseSpec(data_container=ErrorBody, description=why)
    for code, why in {
        400: "Malformed request", 403: "Not allowed", 404: "Not found", 409: "Conflict",
        413: "Too large", 422: "Invalid field", 429: "Rate limited",
    }.items()
}  # fmt: skip


def cached(request: Request[Any, Any, Any], entry: Entry) -> Response[bytes]:
    """The body, or 304 when the client already has it; clients must revalidate."""
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache", "Vary": "Origin"}
    if none_match(request.headers.get("if-none-match", ""), entry.etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(entry.body, media_type=JSON, headers=headers)


async def browser_write(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Writes that a reader's cookies authorise come as JSON from an allowed origin.

    A cross-site form cannot send JSON without a CORS preflight, which only allowed origins
    pass; checking Origin as well refuses the rest outright.
    """
    origin = connection.headers.get("origin")
    kb = connection.app.state.kibitz
    if origin and origin != "null" and origin_of(origin) not in kb.settings.origins:
        raise Forbidden("origin_not_allowed", "This site may not post to this discussion.")
    if connection.scope.get("method") in ("POST", "PATCH"):
        ctype = connection.headers.get("content-type", "")
        if not ctype.split(";")[0].strip().lower().endswith(("/json", "+json")):
            raise UnsupportedMediaType(
                "unsupported_media_type", "Send JSON (Content-Type: application/json)."
            )


async def api_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    auth = connection.headers.get("authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if await token_service.verify(connection.app.state.kibitz, token) is None:
        raise Unauthorized("unauthorized", "This needs a valid API token (Authorization: Bearer).")


class CommentsController(Controller):
    path = "/api/v1"
    tags = ["comments"]

    @get(
        "/comments",
        summary="Read a thread",
        description="A page of top-level comments in the chosen order, each with its replies "
        "(oldest first). Pass `next_cursor` back as `cursor` for the next page. Answers 304 "
        "to a matching If-None-Match.",
        responses={200: ResponseSpec(data_container=ThreadPage), **ERRORS},
    )
    async def list_comments(
        self,
        request: Request[Any, Any, Any],
        thread: Annotated[str, QueryParameter(description="The thread key, usually the page path")],
        sort: Annotated[
            str, QueryParameter(description="newest, oldest, most_voted or best")
        ] = "newest",
        limit: Annotated[
            int | None, QueryParameter(description="Top-level comments per page")
        ] = None,
        cursor: Annotated[
            str | None, QueryParameter(description="next_cursor of the page before")
        ] = None,
        passage: Annotated[
            str | None,
            QueryParameter(description='Only comments on passages: "any", or a passage id'),
        ] = None,
    ) -> Response[bytes]:
        kb = rd.kibitz(request)
        entry = await reading.thread_page(kb, thread, sort, limit, cursor, passage)
        return cached(request, entry)

    @post(
        "/comments",
        summary="Post a comment or a reply",
        description="201 with the comment and its `edit_token` (also set as an HttpOnly "
        "cookie), or 202 when the comment is held for moderation.",
        guards=[browser_write],
        responses={201: ResponseSpec(data_container=PostedComment), **ERRORS},
    )
    async def create_comment(
        self, request: Request[Any, Any, Any], data: JSONBody[NewComment]
    ) -> Response[PostedComment]:
        who, voter_cookie = rd.reader(request, mint=True)
        await rd.limit(request, "comment", who)
        posted = await comment_service.create(rd.kibitz(request), data, who)
        status = HTTP_202_ACCEPTED if posted.status == "pending" else HTTP_201_CREATED
        response = Response(posted, status_code=status)
        edit = rd.edit_cookie(rd.kibitz(request), posted.id, posted.edit_token)
        return rd.with_cookies(response, voter_cookie, edit)

    @patch(
        "/comments/{comment_id:int}",
        summary="Edit one's own comment",
        description="With the edit token (X-Kibitz-Edit-Token header or the cookie), "
        "within the edit window.",
        guards=[browser_write],
        responses={200: ResponseSpec(data_container=Comment), **ERRORS},
    )
    async def edit_comment(
        self,
        request: Request[Any, Any, Any],
        comment_id: FromPath[int],
        data: JSONBody[CommentEdit],
    ) -> Comment:
        who, _ = rd.reader(request)
        await rd.limit(request, "edit", who)
        token = rd.edit_token(request, comment_id)
        return await comment_service.edit(rd.kibitz(request), comment_id, token, data)

    @delete(
        "/comments/{comment_id:int}",
        status_code=200,
        summary="Delete one's own comment",
        description="With replies the comment stays as a `deleted` placeholder (returned); "
        "without, it leaves the thread (`comment` is null).",
        guards=[browser_write],
        responses=ERRORS,
    )
    async def delete_comment(
        self, request: Request[Any, Any, Any], comment_id: FromPath[int]
    ) -> dict[str, Comment | None]:
        who, _ = rd.reader(request)
        await rd.limit(request, "edit", who)
        token = rd.edit_token(request, comment_id)
        placeholder = await comment_service.delete(rd.kibitz(request), comment_id, token)
        return {"comment": placeholder}

    @post(
        "/comments/{comment_id:int}/vote",
        status_code=200,
        summary="Vote on a comment",
        description="`value` 1 (up), -1 (down) or 0 (take the vote back). One vote per "
        "reader per comment; not on one's own comment. The reader is named by the voter "
        "cookie or the X-Kibitz-Reader header (`reader` from /me); a request that names "
        "neither is refused (403 `reader_unknown`).",
        guards=[browser_write],
        responses={200: ResponseSpec(data_container=VoteResult), **ERRORS},
    )
    async def vote(
        self, request: Request[Any, Any, Any], comment_id: FromPath[int], data: JSONBody[VoteIn]
    ) -> Response[VoteResult]:
        who, voter_cookie = rd.reader(request, mint=True, known=True)
        await rd.limit(request, "vote", who)
        result = await vote_service.vote(rd.kibitz(request), comment_id, who, data.value)
        return rd.with_cookies(Response(result), voter_cookie)

    @post(
        "/preview",
        status_code=200,
        summary="Render a comment body without posting it",
        description="The HTML the body would be stored as, for the form's preview.",
        guards=[browser_write],
        responses={200: ResponseSpec(data_container=Preview), **ERRORS},
    )
    async def preview(
        self, request: Request[Any, Any, Any], data: JSONBody[CommentEdit]
    ) -> Preview:
        who, _ = rd.reader(request)
        await rd.limit(request, "preview", who)
        kb = rd.kibitz(request)
        body = comment_service.check_body(kb.settings, data.body)
        return Preview(body_html=comment_service.render(kb.settings, body))

    @get(
        "/me",
        summary="The reader's own state in a thread",
        description="Read from the voter cookie (or the X-Kibitz-Reader header), never cached "
        "by anyone: their votes (comment id to 1 or -1); their comments that wait for a "
        "moderator (`pending`, shown to them alone, marked awaiting moderation; replies carry "
        "their `parent_id`); a `form_token` to send with their next comment; `ban` when they "
        "may not post; `reader`, their signed reader id (a new reader gets one, and the voter "
        "cookie), to send as X-Kibitz-Reader where the browser keeps no cookies; and `guest`, "
        "what the site asks of a guest's form (name and e-mail required, website taken).",
        responses={200: ResponseSpec(data_container=Me), **ERRORS},
    )
    async def me(self, request: Request[Any, Any, Any], thread: FromQuery[str]) -> Response[bytes]:
        kb = rd.kibitz(request)
        key = thread_service.check_key(thread)
        who, voter_cookie = rd.reader(request, mint=True)
        assert who.voter_id is not None  # minted when the request named no reader
        mine = await vote_service.my_votes(kb, key, who.voter_id)
        s = kb.settings
        me = Me(
            votes={str(k): v for k, v in mine.items()},
            pending=await own.pending(kb, key, who.voter_id),
            form_token=policies.form_token(kb),
            reader=rd.reader_token(kb, who.voter_id),
            guest=GuestForm(s.require_name, s.require_email, s.allow_website),
            ban=await own.ban(kb, who),
        )
        response = Response(
            msgspec.json.encode(me), media_type=JSON,
            headers={"Cache-Control": "private, no-store"},
        )  # fmt: skip
        return rd.with_cookies(response, voter_cookie)

    @post(
        "/comments/{comment_id:int}/report",
        status_code=202,
        summary="Report a comment",
        description="`reason` is spam, abuse, off_topic or other, with an optional `note`. "
        "One report per reader per comment; enough reports from different readers hold the "
        "comment for a moderator. Rate-limited.",
        guards=[browser_write],
        responses={202: ResponseSpec(data_container=ReportResult), **ERRORS},
    )
    async def report(
        self, request: Request[Any, Any, Any], comment_id: FromPath[int], data: JSONBody[ReportIn]
    ) -> Response[ReportResult]:
        who, voter_cookie = rd.reader(request, mint=True)
        await rd.limit(request, "report", who)
        result = await report_service.report(rd.kibitz(request), comment_id, who, data)
        return rd.with_cookies(Response(result, status_code=202), voter_cookie)


class CountsController(Controller):
    path = "/api/v1/counts"
    tags = ["counts"]

    @get(
        "/",
        summary="Comment counts of many threads",
        description="`?thread=A&thread=B`; at most 100. A thread that does not exist counts 0.",
        responses={200: ResponseSpec(data_container=Counts), **ERRORS},
    )
    async def get_counts(
        self, request: Request[Any, Any, Any], thread: FromQuery[list[str]]
    ) -> Response[bytes]:
        return cached(request, await _counts(request, thread))

    @post(
        "/",
        status_code=200,
        summary="Comment counts of many threads",
        description='Body `{"threads": [...]}`; at most 100.',
        responses={200: ResponseSpec(data_container=Counts), **ERRORS},
    )
    async def post_counts(
        self, request: Request[Any, Any, Any], data: JSONBody[CountsIn]
    ) -> Response[bytes]:
        return cached(request, await _counts(request, data.threads))


async def _counts(request: Request[Any, Any, Any], keys: list[str]) -> Entry:
    counts = await count_service.counts(rd.kibitz(request), keys)
    return Entry.of(msgspec.json.encode(Counts(counts)))


class ThreadsController(Controller):
    path = "/api/v1/threads"
    tags = ["threads"]

    @get("/", summary="A thread", responses={200: ResponseSpec(ThreadInfo), **ERRORS})
    async def get_thread(self, request: Request[Any, Any, Any], key: FromQuery[str]) -> ThreadInfo:
        return await thread_service.get(rd.kibitz(request), key)

    @post(
        "/",
        summary="Create a thread (API token)",
        guards=[api_token],
        responses={201: ResponseSpec(ThreadInfo), **ERRORS},
    )
    async def create_thread(
        self, request: Request[Any, Any, Any], data: JSONBody[NewThread]
    ) -> ThreadInfo:
        return await thread_service.create(rd.kibitz(request), data)

    @patch(
        "/",
        summary="Rename, move, close or reopen a thread (API token)",
        guards=[api_token],
        responses={200: ResponseSpec(ThreadInfo), **ERRORS},
    )
    async def update_thread(
        self, request: Request[Any, Any, Any], key: FromQuery[str], data: JSONBody[ThreadUpdate]
    ) -> ThreadInfo:
        return await thread_service.update(rd.kibitz(request), key, data)
