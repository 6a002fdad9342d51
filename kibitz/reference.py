"""The reference article and its discussion, loaded through the same services a publisher
uses. ``kibitz demo`` (and so ``make run``) calls this; loading twice changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from kibitz.context import Kibitz
from kibitz.models import NewComment, Reader
from kibitz.services import articles, comments, votes
from kibitz.services import threads as thread_service

DATA = Path(__file__).parent / "data" / "reference"


async def load(kb: Kibitz) -> articles.Article:
    article = await articles.add_file(kb, DATA / "article.md")
    discussion: dict[str, Any] = yaml.safe_load((DATA / "discussion.yaml").read_text("utf-8"))
    info = await thread_service.get(kb, article.path)
    if info.comment_count:
        return article  # seeded before
    ids: dict[str, int] = {}
    voter = 0
    for item in discussion["comments"]:
        posted = await comments.create(
            kb,
            NewComment(
                thread=article.path,
                body=item["body"],
                author_name=item["author"],
                parent_id=ids[item["parent"]] if "parent" in item else None,
            ),
            Reader(voter_id=f"reference-author-{item['id']}"),
            at=article.published_at + timedelta(minutes=item["minutes"]),
            checks=False,  # the publisher's own sample discussion, not readers' comments
        )
        ids[item["id"]] = posted.id
        up, down = item.get("votes", [0, 0])
        for value in [1] * up + [-1] * down:
            voter += 1
            await votes.vote(kb, posted.id, Reader(voter_id=f"reference-voter-{voter}"), value)
    return article
