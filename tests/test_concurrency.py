"""Many readers at once: totals stay exact and nothing is half-written."""

from __future__ import annotations

import asyncio
from typing import Any

from kibitz.models import NewComment, Reader
from kibitz.services import comments as comment_service
from kibitz.services import votes as vote_service
from tests.factories import THREAD, read_thread


async def test_simultaneous_votes_add_up_exactly(make_client: Any) -> None:
    client = await make_client()
    kb = client.kb
    posted = await comment_service.create(
        kb, NewComment(thread=THREAD, body="vote on me", author_name="Al"), Reader("author")
    )
    voters = [Reader(f"voter-{i}") for i in range(40)]
    await asyncio.gather(
        *(vote_service.vote(kb, posted.id, v, 1 if i % 4 else -1) for i, v in enumerate(voters))
    )
    # the same reader clicking twice at once still has one vote
    await asyncio.gather(*(vote_service.vote(kb, posted.id, Reader("twice"), 1) for _ in range(5)))
    [c] = (await read_thread(client))["comments"]
    assert c["votes"] == {"up": 31, "down": 10, "score": 21}


async def test_simultaneous_first_comments_open_one_thread(make_client: Any) -> None:
    client = await make_client()
    kb = client.kb
    await asyncio.gather(
        *(
            comment_service.create(
                kb, NewComment(thread="/fresh", body=f"c{i}", author_name="Al"), Reader()
            )
            for i in range(20)
        )
    )
    page = await read_thread(client, "/fresh", limit=100)
    assert page["thread"]["comment_count"] == 20 and len(page["comments"]) == 20
