"""The reference article and its discussion, loaded through the same services a publisher
uses. ``kibitz demo`` (and so ``make run``) calls this; loading twice changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from kibitz import anchoring
from kibitz.context import Kibitz
from kibitz.models import AnchorIn, NewComment, PassageList, Reader
from kibitz.services import articles, comments, passages, votes
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
    listed = await passages.get_list(kb, article.path)
    for item in discussion["comments"]:
        posted = await comments.create(
            kb,
            NewComment(
                thread=article.path,
                body=item["body"],
                author_name=item["author"],
                parent_id=ids[item["parent"]] if "parent" in item else None,
                passage_id=_question(listed, item["question"]) if "question" in item else None,
                anchor=_selection(article, item["passage"]) if "passage" in item else None,
            ),
            Reader(voter_id=f"reference-author-{item['id']}"),
            at=article.published_at + timedelta(minutes=item["minutes"]),
        )
        ids[item["id"]] = posted.id
        up, down = item.get("votes", [0, 0])
        for value in [1] * up + [-1] * down:
            voter += 1
            await votes.vote(kb, posted.id, Reader(voter_id=f"reference-voter-{voter}"), value)
    return article


def _question(listed: PassageList, key: str) -> int:
    """The id of the article's question marked with {?#key ...}."""
    return next(p.id for p in listed.passages if p.key == f"md:{key}")


def _selection(article: articles.Article, exact: str) -> AnchorIn:
    """The anchor a reader's selection of that text would have."""
    text, text_hash = passages.article_text(article.body_html)
    start = text.index(exact)
    sel = anchoring.selector(text, start, start + len(exact))
    return AnchorIn(sel.exact, sel.start, sel.end, text_hash, sel.prefix, sel.suffix)
