"""Inline feedback in the dashboard, over HTTP: the articles with their passages and counts,
a question asked on a selected passage (a phrase that occurs twice is asked where it was
selected), reworded and closed, orphans marked "passage changed" after an edit, the comments
of one passage; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from kibitz import anchoring
from kibitz.db.tables import audit_log, passages
from kibitz.services import articles
from kibitz.services import passages as passage_service
from tests.factories import post_comment
from tests.moderators import csrf, dashboard, log_in, make_account, submit
from tests.test_api_passages import MD, PATH, publish, selection

pytestmark = pytest.mark.usefixtures("cheap_hashing")
THREAD_PAGE = f"/admin/passages/thread?key={PATH}"
TWICE = MD.replace(
    "were not named.",
    "were not named. The minister said more later, and the minister said it twice.",
)


async def question_rows(kb: Any) -> list[Any]:
    query = sa.select(passages).where(passages.c.kind == "question").order_by(passages.c.id)
    return list(await kb.db.read(lambda c: list(c.execute(query))))


async def ask(client: Any, **fields: Any) -> Any:
    data = {"thread": PATH, **{k: str(v) for k, v in fields.items()}}
    expect = int(data.pop("expect", "303"))
    return await submit(client, "/admin/passages/ask", data, page=THREAD_PAGE, expect=expect)


async def test_the_articles_their_passages_and_their_comments(make_client: Any) -> None:
    moderator = await dashboard(make_client, role="moderator")
    kb = moderator.kb
    article = await publish(kb)
    reader = await make_client(kb=kb)
    listed = await passage_service.get_list(kb, PATH)
    bases = next(p for p in listed.passages if p.key == "md:bases")
    await post_comment(reader, "Not without the neighbours.", thread=PATH, passage_id=bases.id)
    anchor = selection(article.body_html, "influence in Afghanistan")
    await post_comment(reader, "Which influence?", thread=PATH, anchor=anchor)
    overview = await moderator.get("/admin/passages")
    assert overview.status_code == 200
    row = re.search(r"Bases</a>.*?</tr>", overview.text, re.S)
    assert row and re.findall(r'class="num">(\d+)<', row.group(0)) == ["2", "3", "2"]
    page = await moderator.get(THREAD_PAGE)
    assert page.status_code == 200
    assert 'id="article-text"' in page.text and "strengthening its bases" in page.text
    assert "Will stronger bases keep militants out?" in page.text
    assert "A passage readers selected" in page.text and "passage changed" not in page.text
    assert f'<a href="/admin/passages/{bases.id}">1 comment</a>' in page.text
    one = await moderator.get(f"/admin/passages/{bases.id}")
    assert one.status_code == 200 and "Not without the neighbours." in one.text
    assert "Which influence?" not in one.text
    # the publisher rewrites the sentence a reader commented on: its passage is an orphan
    await articles.save(kb, articles.parse(MD.replace("influence in Afghanistan", "reach")))
    page = await moderator.get(THREAD_PAGE)
    orphan = re.search(r'<article class="passage orphan".*?</article>', page.text, re.S)
    assert orphan and "passage changed" in orphan.group(0)
    assert "influence in Afghanistan" in orphan.group(0)  # still quoted
    assert "passage changed" not in page.text.split('class="passage orphan"')[0]


async def test_a_question_asked_on_a_selected_passage(make_client: Any) -> None:
    moderator = await dashboard(make_client, role="moderator")
    kb = moderator.kb
    article = await publish(kb, TWICE)
    text, _ = passage_service.article_text(article.body_html)
    second = text.index("the minister said", text.index("the minister said") + 1)
    where = anchoring.selector(text, second, second + len("the minister said"))
    # without its place, a phrase that occurs twice is refused, and the form keeps the text
    vague = await ask(moderator, exact="the minister said", question="Who?", expect=422)
    assert "occurs 2 times" in vague.text and 'aria-invalid="true"' in vague.text
    assert "Who?" in vague.text
    done = await ask(moderator, exact="the minister said", question="Which minister?",
              prefix=where.prefix, suffix=where.suffix, start=second)  # fmt: skip
    [_, _, asked] = await question_rows(kb)
    assert (asked.pos_start, asked.pos_end, asked.question) == (
        second, second + 17, "Which minister?",
    )  # fmt: skip
    assert asked.key.startswith("q:")
    page = await moderator.get(done.headers["location"])
    assert "Which minister?" in page.text and "Question asked." in page.text
    # readers see it and answer it
    reader = await make_client(kb=kb)
    answered = await post_comment(reader, "Shoigu.", thread=PATH, passage_id=asked.id)
    assert answered["passage_id"] == asked.id
    # reworded, then closed: its answers stay, it takes no new ones
    await submit(moderator, f"/admin/passages/{asked.id}", {"question": "Which minister, exactly?"},
                 page=THREAD_PAGE)  # fmt: skip
    await submit(moderator, f"/admin/passages/{asked.id}", {"state": "close"}, page=THREAD_PAGE)
    [*_, closed] = await question_rows(kb)
    assert closed.question == "Which minister, exactly?" and closed.active is False
    refused = await post_comment(reader, "Late.", thread=PATH, passage_id=asked.id, expect=409)
    assert refused["error"]["code"] == "question_closed"
    one = await moderator.get(f"/admin/passages/{asked.id}")
    assert "Shoigu." in one.text and "closed" in one.text
    await submit(moderator, f"/admin/passages/{asked.id}", {"state": "reopen", "back": "passage"},
                 page=THREAD_PAGE)  # fmt: skip
    assert (await question_rows(kb))[-1].active is True
    empty = await submit(moderator, f"/admin/passages/{asked.id}", {"question": " "},
                         page=THREAD_PAGE, expect=422)  # fmt: skip
    assert "Write the question" in empty.text
    missing = await ask(moderator, exact="words the article never had", question="?", expect=422)
    assert "not in the article" in missing.text
    logged = await kb.db.read(lambda c: list(c.execute(
        sa.select(audit_log.c.action, audit_log.c.actor, audit_log.c.target)
        .where(audit_log.c.target == f"passage:{asked.id}").order_by(audit_log.c.id))))  # fmt: skip
    assert [(a, who) for a, who, _ in logged] == [
        ("ask_question", "Moderator"), ("update_question", "Moderator"),
        ("update_question", "Moderator"), ("update_question", "Moderator"),
    ]  # fmt: skip


async def test_pages_elsewhere_and_the_guards(make_client: Any) -> None:
    admin = await dashboard(make_client)
    kb = admin.kb
    reader = await make_client(kb=kb)
    anchor = {"exact": "harbour budget", "prefix": "the new ", "suffix": " for the",
              "start": 40, "end": 54, "text_hash": "0a1b2c3d"}  # fmt: skip
    await post_comment(reader, "On a page kibitz does not serve", thread="/elsewhere/story",
                       anchor=anchor)  # fmt: skip
    overview = (await admin.get("/admin/passages")).text
    assert "/elsewhere/story" in overview and "its text is not known here" in overview
    page = await admin.get("/admin/passages/thread", params={"key": "/elsewhere/story"})
    assert page.status_code == 200 and "harbour budget" in page.text
    assert 'id="article-text"' not in page.text and "POST /api/v1/passages" in page.text
    r = await admin.post("/admin/passages/ask", data={"thread": PATH, "exact": "x",
                                                      "question": "?"})  # fmt: skip
    assert r.status_code == 403  # no CSRF token
    outsider = await make_client(kb=kb)
    for path in ("/admin/passages", THREAD_PAGE, "/admin/passages/1"):
        r = await outsider.get(path, headers={"accept": "application/json"})
        assert r.status_code == 401
    await make_account(kb, email="mo@example.org", name="Mo", role="moderator")
    await log_in(outsider, "mo@example.org")
    assert (await outsider.get("/admin/passages")).status_code == 200
    token = await csrf(outsider, "/admin/passages")
    assert (await outsider.get("/admin/passages/99999")).status_code == 404
    r = await outsider.post("/admin/passages/99999", data={"_csrf_token": token, "state": "close"})
    assert r.status_code == 404
