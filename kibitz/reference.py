"""The reference article and its discussion, loaded through the same services a publisher
uses. ``kibitz demo`` (and so ``make run``) calls this; loading twice changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from kibitz import anchoring, money
from kibitz.context import Kibitz
from kibitz.models import AnchorIn, NewComment, PassageList, Reader
from kibitz.services import articles, comments, ledger, passages, votes
from kibitz.services import campaigns as camp
from kibitz.services import threads as thread_service
from kibitz.services.errors import NotFound

DATA = Path(__file__).parent / "data" / "reference"


async def load(kb: Kibitz) -> articles.Article:
    await load_funding(kb)
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
            checks=False,  # the publisher's own sample discussion, not readers' comments
        )
        ids[item["id"]] = posted.id
        up, down = item.get("votes", [0, 0])
        for value in [1] * up + [-1] * down:
            voter += 1
            await votes.vote(kb, posted.id, Reader(voter_id=f"reference-voter-{voter}"), value)
    return article


async def load_funding(kb: Kibitz) -> camp.Campaign:
    """The June 2021 campaign and its ledger (1,660 $ of 5,000 $), entered like any
    publisher's manual entries; loading again adds nothing."""
    data: dict[str, Any] = yaml.safe_load((DATA / "funding.yaml").read_text("utf-8"))
    spec = data["campaign"]
    code = spec["currency"]
    first = date.fromisoformat(spec["month"] + "-01")
    try:
        campaign = await camp.get(kb, spec["slug"])
    except NotFound:
        campaign = await camp.create(
            kb,
            camp.NewCampaign(
                slug=spec["slug"], name=spec["name"], description=spec["description"],
                currency=code, goal=money.parse_amount(spec["goal"], code), start=first,
                end=first,
                suggested_amounts=tuple(money.parse_amount(a, code) for a in spec["suggested"]),
            ),
        )  # fmt: skip
    tz = camp.zone(kb.settings.time_zone)
    now = datetime.now(UTC)

    def enter(conn: Any) -> None:
        ids: dict[str, int] = {}
        for item in data["entries"]:
            ref = f"reference:{spec['slug']}:{item['ref']}"
            found = ledger.by_ref(conn, ref)
            if found is not None:
                ids[item["ref"]] = found.id
                continue
            currency = item.get("currency", code)
            new = ledger.NewEntry(
                kind=item["kind"], currency=currency,
                amount=money.parse_amount(item["amount"], currency),
                occurred_at=datetime.fromisoformat(item["at"]), source="manual",
                method=item.get("method"), frequency=item.get("frequency", "one_time"),
                public_name=item.get("public_name"), message=item.get("message"),
                fx_rate=item.get("rate"), reverses_id=ids.get(item.get("reverses", "")),
                provider_ref=ref, note=item.get("note"),
            )  # fmt: skip
            made = ledger.append(conn, campaign, new, tz=tz, now=now)
            assert made is not None
            ids[item["ref"]] = made

    await kb.db.write(enter)
    camp.invalidate(kb, campaign.slug)
    return campaign


def _question(listed: PassageList, key: str) -> int:
    """The id of the article's question marked with {?#key ...}."""
    return next(p.id for p in listed.passages if p.key == f"md:{key}")


def _selection(article: articles.Article, exact: str) -> AnchorIn:
    """The anchor a reader's selection of that text would have."""
    text, text_hash = passages.article_text(article.body_html)
    start = text.index(exact)
    sel = anchoring.selector(text, start, start + len(exact))
    return AnchorIn(sel.exact, sel.start, sel.end, text_hash, sel.prefix, sel.suffix)
