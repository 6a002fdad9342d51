"""The JSON API of inline feedback: a thread's passages with their counts, and the
publisher's questions (the dashboard asks and edits them through the same services)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from kibitz.models import NewQuestion, Passage, PassageList, QuestionUpdate
from kibitz.services import passages
from kibitz.web import reader as rd
from kibitz.web.api import ERRORS, api_token, cached


class PassagesController(Controller):
    path = "/api/v1/passages"
    tags = ["inline feedback"]

    @get(
        "/",
        summary="The passages of a thread, with counts",
        description="Questions the publisher marked and passages readers commented on, each "
        "with its approved comments counted. For an article kibitz serves, `found` says where "
        "each passage is in the current text and `orphaned` which ones are gone ('passage "
        "changed'). Comments on one passage: `GET /api/v1/comments?passage=ID`. Answers 304 to "
        "a matching If-None-Match.",
        responses={200: ResponseSpec(data_container=PassageList), **ERRORS},
    )
    async def list_passages(
        self,
        request: Request[Any, Any, Any],
        thread: Annotated[str, QueryParameter(description="The thread key")],
    ) -> Response[bytes]:
        return cached(request, await passages.listing(rd.kibitz(request), thread))

    @post(
        "/",
        summary="Ask a question on a passage (API token)",
        description="For an article kibitz serves, `exact` is looked up in its text (give "
        "`prefix`, `suffix` or `start` when it occurs more than once); for a page elsewhere, "
        "give the selector the widget computes (`start`, `end`, `text_hash`).",
        guards=[api_token],
        responses={201: ResponseSpec(data_container=Passage), **ERRORS},
    )
    async def ask(self, request: Request[Any, Any, Any], data: JSONBody[NewQuestion]) -> Passage:
        return await passages.ask(rd.kibitz(request), data)

    @patch(
        "/{passage_id:int}",
        summary="Reword a question, or stop or restart taking answers (API token)",
        guards=[api_token],
        responses={200: ResponseSpec(data_container=Passage), **ERRORS},
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        passage_id: FromPath[int],
        data: JSONBody[QuestionUpdate],
    ) -> Passage:
        return await passages.update_question(rd.kibitz(request), passage_id, data)
