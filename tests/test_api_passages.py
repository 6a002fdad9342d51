"""Inline feedback through the API and the plain pages: questions marked in an article,
comments on a passage a reader selected, counts per passage, and what happens to them when
the publisher edits the article."""

from __future__ import annotations

import re
from typing import Any

from kibitz import anchoring
from kibitz.services import articles, moderation, passages, tokens
from tests.factories import flatten, post_comment, read_thread
from tests.test_pages import csrf_token

PATH = "/2021/06/bases"
MD = """---
title: "Bases"
date: 2021-06-02
path: /2021/06/bases
---
ISIS is working to increase its influence in Afghanistan, the minister said.

According to Shoigu, the Russian military is [strengthening its bases in Kyrgyzstan and
Tajikistan]{?#bases Will stronger bases keep militants out?} as well as employing other
measures. [Other measures]{?What other measures?} were not named.
"""


async def publish(kb: Any, md: str = MD) -> articles.Article:
    return await articles.save(kb, articles.parse(md))


async def listing(client: Any, thread: str = PATH) -> dict[str, Any]:
    r = await client.get("/api/v1/passages", params={"thread": thread})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def selection(body_html: str, exact: str) -> dict[str, Any]:
    """The anchor the widget sends for a reader's selection of that text."""
    text, h = passages.article_text(body_html)
    start = text.index(exact)
    sel = anchoring.selector(text, start, start + len(exact))
    return {
        "exact": sel.exact,
        "prefix": sel.prefix,
        "suffix": sel.suffix,
        "start": sel.start,
        "end": sel.end,
        "text_hash": h,
    }


async def test_a_marked_question_is_listed_and_answered(client: Any) -> None:
    article = await publish(client.kb)
    assert "{?" not in article.body_html and "strengthening its bases" in article.body_html
    data = await listing(client)
    q = {p["key"]: p for p in data["passages"]}
    bases = q["md:bases"]
    assert bases["question"] == "Will stronger bases keep militants out?"
    assert bases["selector"]["exact"] == "strengthening its bases in Kyrgyzstan and Tajikistan"
    assert bases["count"] == 0 and bases["orphaned"] is False
    assert bases["found"]["how"] == "position"
    assert q["md:what-other-measures"]["selector"]["exact"] == "Other measures"
    text = passages.article_text(article.body_html)[0]
    assert text[bases["selector"]["start"] : bases["selector"]["end"]] == bases["selector"]["exact"]

    answer = await post_comment(
        client, "Not without the neighbours.", thread=PATH, passage_id=bases["id"]
    )
    assert answer["passage_id"] == bases["id"]
    await post_comment(client, "A comment on the whole article.", thread=PATH)
    q = {p["key"]: p for p in (await listing(client))["passages"]}
    assert q["md:bases"]["count"] == 1 and q["md:what-other-measures"]["count"] == 0
    # replies are ordinary replies under it
    reply = await post_comment(client, "Agreed.", thread=PATH, parent_id=answer["id"])
    assert reply["passage_id"] is None
    # the discussion has both; the Inline Feedbacks view only the passage comments
    assert len(flatten((await read_thread(client, PATH))["comments"])) == 3
    only = (await read_thread(client, PATH, passage="any"))["comments"]
    assert [c["id"] for c in only] == [answer["id"]] and only[0]["replies"][0]["id"] == reply["id"]
    one = await read_thread(client, PATH, passage=str(bases["id"]))
    assert [c["id"] for c in one["comments"]] == [answer["id"]]
    r = await client.get("/api/v1/comments", params={"thread": PATH, "passage": "some"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "passage"


async def test_readers_comment_on_a_passage_they_select(client: Any, make_client: Any) -> None:
    article = await publish(client.kb)
    anchor = selection(article.body_html, "influence in Afghanistan")
    first = await post_comment(client, "Which influence?", thread=PATH, anchor=anchor)
    other = await make_client(client.kb)
    second = await post_comment(other, "It grows.", thread=PATH, anchor=anchor)
    assert first["passage_id"] == second["passage_id"]  # one passage, two comments
    [p] = [p for p in (await listing(client))["passages"] if p["kind"] == "selection"]
    assert p["count"] == 2 and p["question"] is None
    assert p["selector"]["exact"] == "influence in Afghanistan"
    assert p["selector"]["prefix"] == anchor["prefix"] and len(p["selector"]["prefix"]) == 32


async def test_the_passage_list_is_cached_and_changes_with_every_comment(client: Any) -> None:
    article = await publish(client.kb)
    r = await client.get("/api/v1/passages", params={"thread": PATH})
    etag = r.headers["etag"]
    again = await client.get(
        "/api/v1/passages", params={"thread": PATH}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    await post_comment(
        client, "Hm.", thread=PATH, anchor=selection(article.body_html, "the minister said")
    )
    after = await client.get(
        "/api/v1/passages", params={"thread": PATH}, headers={"If-None-Match": etag}
    )
    assert after.status_code == 200 and len(after.json()["passages"]) == 3


async def test_bad_passages_get_clear_errors(make_client: Any) -> None:
    client = await make_client(rate_limits="comment.voter=1000/60,comment.ip=1000/60")
    article = await publish(client.kb)
    good = selection(article.body_html, "influence in Afghanistan")
    top = await post_comment(client, "top", thread=PATH)
    [bases] = [p for p in (await listing(client))["passages"] if p["key"] == "md:bases"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"anchor": good, "parent_id": top["id"]}, 422, "passage_on_reply"),
        ({"anchor": good, "passage_id": bases["id"]}, 422, "passage_twice"),
        ({"anchor": {**good, "text_hash": "zz"}}, 422, "invalid_anchor"),
        ({"anchor": {**good, "end": good["end"] + 3}}, 422, "invalid_anchor"),
        ({"anchor": {**good, "exact": "   "}}, 422, "required"),
        ({"anchor": {**good, "exact": "x" * 2001, "end": good["start"] + 2001}}, 422, "too_long"),
        (
            {
                "anchor": {
                    **good,
                    "exact": "words the article never had",
                    "end": good["start"] + 27,
                    "prefix": "",
                    "suffix": "",
                }
            },
            422,
            "passage_not_found",
        ),
        ({"passage_id": 99999}, 422, "unknown_passage"),
    ]
    for extra, status, code in cases:
        r = await client.post(
            "/api/v1/comments", json={"thread": PATH, "body": "b", "author_name": "R", **extra}
        )
        assert r.status_code == status, (extra, r.text)
        assert r.json()["error"]["code"] == code
    # a passage of another thread
    await publish(client.kb, MD.replace(PATH, "/other"))
    [other] = [p for p in (await listing(client, "/other"))["passages"] if p["key"] == "md:bases"]
    r = await client.post(
        "/api/v1/comments",
        json={"thread": PATH, "body": "b", "author_name": "R", "passage_id": other["id"]},
    )
    assert r.json()["error"]["code"] == "unknown_passage"
    # nothing was half written
    assert (await listing(client))["passages"][0]["count"] == 0
    assert len((await read_thread(client, PATH))["comments"]) == 1


async def test_a_site_can_turn_reader_selections_off(make_client: Any) -> None:
    client = await make_client(reader_passages=False)
    article = await publish(client.kb)
    data = await listing(client)
    assert data["reader_passages"] is False
    r = await client.post(
        "/api/v1/comments",
        json={
            "thread": PATH,
            "body": "b",
            "author_name": "R",
            "anchor": selection(article.body_html, "influence in Afghanistan"),
        },
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "reader_passages_off"
    [bases] = [p for p in data["passages"] if p["key"] == "md:bases"]
    await post_comment(client, "Questions still take answers.", thread=PATH, passage_id=bases["id"])


async def test_after_an_edit_passages_follow_or_become_orphans(client: Any) -> None:
    article = await publish(client.kb)
    moved = await post_comment(
        client,
        "On influence.",
        thread=PATH,
        anchor=selection(article.body_html, "increase its influence"),
    )
    gone = await post_comment(
        client,
        "On the minister.",
        thread=PATH,
        anchor=selection(article.body_html, "the minister said"),
    )
    [bases] = [p for p in (await listing(client))["passages"] if p["key"] == "md:bases"]
    answer = await post_comment(client, "An answer.", thread=PATH, passage_id=bases["id"])
    edited = MD.replace("ISIS is working", "UPDATE: new figures.\n\nISIS is working")
    edited = edited.replace("the minister said", "officials in Moscow claimed")
    edited = edited.replace(" [Other measures]{?What other measures?}", " Other measures")
    await publish(client.kb, edited)
    by_id = {p["id"]: p for p in (await listing(client))["passages"]}
    followed = by_id[moved["passage_id"]]
    assert followed["orphaned"] is False and followed["found"]["how"] == "quote"
    assert followed["found"]["start"] == followed["selector"]["start"] + len(
        "UPDATE: new figures. "
    )
    orphan = by_id[gone["passage_id"]]
    assert orphan["orphaned"] is True and orphan["found"] is None
    assert orphan["selector"]["exact"] == "the minister said"  # still listed with its quote
    assert by_id[bases["id"]]["found"]["how"] == "position"  # marked: re-placed on every save
    # the question taken out of the Markdown is gone from the list (it had no answers) and
    # takes no more; its comments would have stayed
    assert all(p["key"] != "md:what-other-measures" for p in by_id.values())
    # the orphan's comment is still a passage comment, never silently an ordinary one
    only = (await read_thread(client, PATH, passage="any"))["comments"]
    assert {c["id"] for c in only} == {moved["id"], gone["id"], answer["id"]}


async def test_a_question_taken_out_keeps_its_answers_and_takes_no_more(client: Any) -> None:
    await publish(client.kb)
    [bases] = [p for p in (await listing(client))["passages"] if p["key"] == "md:bases"]
    await post_comment(client, "An answer.", thread=PATH, passage_id=bases["id"])
    await publish(client.kb, MD.replace("{?#bases Will stronger bases keep militants out?}", ""))
    [kept] = [p for p in (await listing(client))["passages"] if p["id"] == bases["id"]]
    assert kept["active"] is False and kept["count"] == 1 and kept["orphaned"] is False
    r = await client.post(
        "/api/v1/comments",
        json={"thread": PATH, "body": "late", "author_name": "R", "passage_id": bases["id"]},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "question_closed"


async def test_held_passage_comments_count_once_approved(make_client: Any) -> None:
    client = await make_client(moderation="all")
    await publish(client.kb)
    [bases] = [p for p in (await listing(client))["passages"] if p["key"] == "md:bases"]
    held = await post_comment(client, "Held.", thread=PATH, passage_id=bases["id"], expect=202)
    assert [p["count"] for p in (await listing(client))["passages"] if p["id"] == bases["id"]] == [
        0
    ]
    await moderation.decide(client.kb, held["id"], "approve")
    assert [p["count"] for p in (await listing(client))["passages"] if p["id"] == bases["id"]] == [
        1
    ]


async def test_pages_elsewhere_keep_the_anchor_the_widget_sent(client: Any) -> None:
    anchor = {
        "exact": "the harbour budget",
        "prefix": "discuss ",
        "suffix": " for the",
        "start": 30,
        "end": 48,
        "text_hash": "0123abcd",
    }
    posted = await post_comment(
        client,
        "On the budget.",
        thread="/news/harbour",
        anchor=anchor,
        thread_url="http://127.0.0.1:8000/news/harbour",
    )
    [p] = (await listing(client, "/news/harbour"))["passages"]
    assert p["id"] == posted["passage_id"] and p["selector"]["exact"] == "the harbour budget"
    assert p["orphaned"] is None and p["found"] is None  # kibitz does not know that text
    assert p["text_hash"] == "0123abcd"


async def test_the_dashboard_asks_questions_through_the_api(client: Any) -> None:
    await publish(client.kb)
    token = await tokens.create(client.kb, "dashboard")
    auth = {"Authorization": f"Bearer {token}"}
    body = {"thread": PATH, "question": "Which bases?", "exact": "Kyrgyzstan and Tajikistan"}
    assert (await client.post("/api/v1/passages", json=body)).status_code == 401
    r = await client.post("/api/v1/passages", json=body, headers=auth)
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["kind"] == "question" and asked["found"]["how"] == "position"
    assert asked["selector"]["exact"] == "Kyrgyzstan and Tajikistan"
    twice = {**body, "exact": "measures"}
    r = await client.post("/api/v1/passages", json=twice, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "ambiguous_passage"
    r = await client.post("/api/v1/passages", json={**twice, "suffix": " were not"}, headers=auth)
    assert r.status_code == 201 and r.json()["selector"]["suffix"].startswith(" were not")
    missing = {**body, "exact": "not in the article"}
    r = await client.post("/api/v1/passages", json=missing, headers=auth)
    assert r.json()["error"]["code"] == "passage_not_found"
    r = await client.patch(
        f"/api/v1/passages/{asked['id']}", json={"question": "Which two?"}, headers=auth
    )
    assert r.status_code == 200 and r.json()["question"] == "Which two?"
    listed = {p["id"]: p for p in (await listing(client))["passages"]}
    assert listed[asked["id"]]["question"] == "Which two?"


async def test_the_page_without_javascript_quotes_passages_and_answers_questions(
    client: Any,
) -> None:
    article = await publish(client.kb)
    await post_comment(
        client,
        "On the minister.",
        thread=PATH,
        anchor=selection(article.body_html, "the minister said"),
    )
    await publish(client.kb, MD.replace("the minister said", "officials claimed"))
    page = await client.get(PATH)
    assert '<q>the minister said</q> <span class="kb-changed">(passage changed)</span>' in page.text
    [bases] = [p for p in (await listing(client))["passages"] if p["key"] == "md:bases"]
    assert f'<option value="{bases["id"]}">Question: Will stronger bases keep' in page.text
    form = {
        "_csrf_token": csrf_token(page.text),
        "thread": PATH,
        "author_name": "Nadia",
        "body": "Answered without JavaScript",
        "passage_id": str(bases["id"]),
    }
    r = await client.post("/discussion/comments", data=form)
    assert r.status_code == 303
    after = (await client.get(r.headers["location"])).text
    quote = re.search(
        r'<blockquote class="kb-quote"><strong>([^<]+)</strong> <q>([^<]+)</q>', after
    )
    assert quote and quote.groups() == (
        "Will stronger bases keep militants out?",
        "strengthening its bases in Kyrgyzstan and Tajikistan",
    )
