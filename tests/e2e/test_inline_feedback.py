"""Inline feedback in Chromium: a reader selects a passage and comments on it, answers the
publisher's question from the icon beside its passage (with the keyboard too), finds the
passage again from the discussion, and the anchors follow the article's edits or become
orphans, in the widget as on the server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kibitz import anchoring
from tests.e2e.conftest import ARTIFACTS, Api, Servers, Tab, TabFactory
from tests.e2e.test_reference_page import _axe
from tests.e2e.widget import comment, deep_active, discussion, fill_form, open_widget

pytestmark = pytest.mark.browser

STORY = """---
title: "The harbour budget, part {n}"
date: 2019-03-01
path: {path}
---
The council met on Tuesday to discuss the new budget for the harbour district.

Residents asked why [the ferry timetable had changed without notice]{{?#ferry Has the new
timetable changed your commute?}}, and the mayor promised an answer by the end of the month.

Local businesses welcomed the decision to keep the market open on Sundays through the winter.
"""
ICON = re.compile(r"^(Question: .*|Comment on this passage\.) \d+ comments?$")


def add_article(servers: Servers, tmp_path: Path, path: str, md: str) -> None:
    """What a publisher does: `kibitz article add` on the server's database."""
    file = tmp_path / f"{uuid.uuid4().hex}.md"
    file.write_text(md)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    env.update(KIBITZ_DATABASE_URL=f"sqlite:///{servers.db}", KIBITZ_PUBLIC_URL=servers.api)
    kibitz = Path(sys.executable).parent / "kibitz"
    subprocess.run([str(kibitz), "article", "add", str(file)], env=env, check=True,
                   capture_output=True)  # fmt: skip


def story(n: int | str, path: str) -> str:
    return STORY.format(n=n, path=path)


def drag_select(page: Page, scope: str, text: str) -> None:
    """Select text in the element matching scope with the mouse, as a reader does."""
    page.locator(scope).get_by_text(text, exact=False).first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # let the focus and the scrolling the widget does settle
    box = page.evaluate(
        """([scope, text]) => {
        const root = document.querySelector(scope);
        const walk = document.createTreeWalker(root, 4);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          const i = n.data.indexOf(text);
          if (i < 0) continue;
          const r = document.createRange();
          r.setStart(n, i); r.setEnd(n, i + 1);
          const a = r.getBoundingClientRect();
          r.setStart(n, i + text.length - 1); r.setEnd(n, i + text.length);
          const b = r.getBoundingClientRect();
          return [a.left + 1, a.top + a.height / 2, b.right - 1, b.top + b.height / 2];
        }
      }""",
        [scope, text],
    )
    assert box, f"{text!r} is not in {scope}"
    page.mouse.move(box[0], box[1])
    page.mouse.down()
    page.mouse.move(box[2], box[3], steps=8)
    page.mouse.up()
    assert page.evaluate("String(getSelection())") == text


def comment_on_selection(page: Page, scope: str, text: str, body: str) -> None:
    drag_select(page, scope, text)
    page.get_by_role("button", name="Comment on the selected passage").click()
    form = page.get_by_role("form", name="Comment on this passage")
    expect(form.locator("textarea")).to_be_focused()
    fill_form(form, body)
    form.get_by_role("button", name="Post Comment").click()
    expect(comment(page, body)).to_be_visible()
    expect(form).to_have_count(0)
    expect(mark(page, text).first).to_be_visible()
    expect(comment(page, body).locator("blockquote q")).to_have_text(text)


def mark(page: Page, text: str) -> Any:
    return page.locator("mark[data-kibitz-passage]", has_text=text)


def icon_after(page: Page, text: str) -> Any:
    """The passage icon whose passage is the marked text."""
    return page.get_by_role("button", name=ICON).nth(
        page.evaluate(
            """(text) => [...document.querySelectorAll('mark[data-kibitz-passage]')]
              .filter((m) => !(m.nextSibling && m.nextSibling.nodeName === 'MARK'))
              .findIndex((m) => m.textContent.includes(text))""",
            text,
        )
    )


def test_select_a_passage_comment_reload_and_find_it_again(tab: Tab, servers: Servers) -> None:
    page = tab.page
    thread = f"/e2e/{uuid.uuid4().hex[:12]}"
    url = servers.page(thread, article="main article")
    open_widget(page, url)
    comment_on_selection(page, "main article", "the ferry timetable had changed", "Since May!")
    expect(mark(page, "the ferry timetable had changed")).to_have_count(1)

    page.reload()
    open_widget(page, url)
    highlighted = mark(page, "the ferry timetable had changed")
    expect(highlighted).to_have_text("the ferry timetable had changed")
    icon = page.get_by_role("button", name="Comment on this passage. 1 comment")
    expect(icon).to_have_text("1")
    posted = comment(page, "Since May!")
    expect(posted.locator("blockquote q")).to_have_text("the ferry timetable had changed")
    # from the discussion back to the passage: scrolled to, highlighted, icon focused
    posted.get_by_role("button", name="Show in the article").click()
    expect(highlighted).to_be_in_viewport()
    expect(highlighted).to_have_css("background-color", re.compile(r"rgba\(255, 213, 74"))
    assert deep_active(page)["label"] == "Comment on this passage. 1 comment"
    # another reader on the same passage: one passage, two comments
    page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Comment on this passage")
    expect(page.locator(".kb-pp q")).to_have_text("the ferry timetable had changed")
    fill_form(form, "Me too.", name="Ola")
    form.get_by_role("button", name="Post Comment").click()
    expect(page.get_by_role("button", name="Comment on this passage. 2 comments")).to_be_visible()
    [p] = servers.query(
        "SELECT p.exact, count(c.id) FROM passages p JOIN comments c ON c.passage_id = p.id"
        " JOIN threads t ON t.id = p.thread_id WHERE t.key = ? GROUP BY p.id",
        thread,
    )
    assert p == ("the ferry timetable had changed", 2)


def test_answer_the_question_with_the_keyboard(tab: Tab, servers: Servers, tmp_path: Path) -> None:
    page = tab.page
    path = f"/e2e-inline/{uuid.uuid4().hex[:10]}"
    add_article(servers, tmp_path, path, story(1, path))
    open_widget(page, servers.api + path)
    question = "Question: Has the new timetable changed your commute? 0 comments"
    expect(page.get_by_role("button", name=question)).to_be_visible()
    # from the top of the page, Tab reaches the icon beside the passage
    page.locator("body").focus()
    for _ in range(20):
        page.keyboard.press("Tab")
        if deep_active(page)["label"] == question:
            break
    else:
        pytest.fail("Tab never reached the passage icon")
    assert deep_active(page)["outlineWidth"] >= 2  # and one sees where the focus is
    page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Answer the question")
    expect(form.locator("textarea")).to_be_focused()
    expect(page.locator(".kb-pp .kb-q strong")).to_have_text(
        "Has the new timetable changed your commute? "
    )
    page.keyboard.press("Escape")  # closes it, back on the icon
    expect(form).to_have_count(0)
    assert deep_active(page)["label"] == question
    page.keyboard.press("Enter")
    page.keyboard.type("Yes, by twenty minutes.")
    page.keyboard.press("Tab")
    page.keyboard.type("Nadia")
    page.keyboard.press("Enter")  # in the Name field: submits, as any form does
    expect(
        page.get_by_role("button", name=question.replace("0 comments", "1 comment"))
    ).to_be_focused()
    answer = comment(page, "Yes, by twenty minutes.")
    expect(answer.locator("blockquote strong")).to_have_text(
        "Has the new timetable changed your commute? "
    )
    # the Inline Feedbacks view groups it under its passage; View all comments goes back
    sec = discussion(page)
    sec.get_by_role("button", name="Inline Feedbacks").click()
    group = sec.locator("li.kb-grp")
    expect(group).to_have_count(1)
    expect(group.get_by_role("heading", level=3)).to_contain_text(
        "the ferry timetable had changed without notice"
    )
    expect(group.locator(".kb-body")).to_have_text("Yes, by twenty minutes.")
    sec.get_by_role("button", name="View all comments").click()
    expect(sec.locator("li.kb-grp")).to_have_count(0)
    expect(sec.get_by_role("button", name="Inline Feedbacks")).to_have_attribute(
        "aria-pressed", "false"
    )


def test_edits_to_the_article_move_anchors_or_orphan_them(
    tab: Tab, servers: Servers, tmp_path: Path
) -> None:
    """On kibitz's own article page the server re-anchors; the widget shows its answer."""
    page = tab.page
    path = f"/e2e-inline/{uuid.uuid4().hex[:10]}"
    add_article(servers, tmp_path, path, story(2, path))
    open_widget(page, servers.api + path)
    comment_on_selection(page, ".story-body", "discuss the new budget", "Which budget?")
    comment_on_selection(page, ".story-body", "keep the market open on Sundays", "Good news.")
    edited = story(2, path).replace(
        "The council met", "UPDATED: the vote was postponed.\n\nThe council met"
    )
    edited = edited.replace("keep the market open on Sundays", "close the market on Sundays")
    add_article(servers, tmp_path, path, edited)
    page.reload()
    open_widget(page, servers.api + path)
    expect(mark(page, "discuss the new budget")).to_have_count(1)
    expect(page.locator(".story-body p").nth(1).locator("mark")).to_have_text(
        "discuss the new budget"
    )
    expect(mark(page, "Sundays")).to_have_count(0)
    orphan = comment(page, "Good news.")
    expect(orphan.locator("blockquote")).to_contain_text("passage changed")
    expect(orphan.get_by_role("button", name="Show in the article")).to_have_count(0)
    sec = discussion(page)
    sec.get_by_role("button", name="Inline Feedbacks").click()
    groups = sec.locator("li.kb-grp")
    expect(groups).to_have_count(2)
    expect(groups.last.get_by_role("heading")).to_contain_text("keep the market open on Sundays")
    expect(groups.last.get_by_role("heading")).to_contain_text("passage changed")

    # the same discussion on a page elsewhere that names no article: the widget cannot look,
    # the server can (orphaned), and only the orphan says so
    open_widget(page, servers.page(path))
    expect(comment(page, "Good news.").locator("blockquote")).to_contain_text("passage changed")
    moved = comment(page, "Which budget?").locator("blockquote")
    expect(moved.locator("q")).to_have_text("discuss the new budget")
    expect(moved).not_to_contain_text("passage changed")


def test_edits_to_a_host_page_are_followed_by_the_widget(tab: Tab, servers: Servers) -> None:
    """A page elsewhere: kibitz does not know its text, so the widget re-anchors."""
    page = tab.page
    thread = f"/e2e/{uuid.uuid4().hex[:12]}"
    first = ("The council met on Tuesday.\n\nResidents asked why the ferry timetable had changed "
             "without notice.\n\nLocal businesses welcomed the decision.")  # fmt: skip
    open_widget(page, servers.page(thread, article="main article", body=first))
    comment_on_selection(page, "main article", "the ferry timetable had changed", "Ferry!")
    comment_on_selection(page, "main article", "Local businesses welcomed", "Shops!")
    second = ("A new first paragraph.\n\nThe council met on Tuesday.\n\nResidents asked why the "
              "ferry timetables had been changed without notice.\n\nNothing else.")  # fmt: skip
    open_widget(page, servers.page(thread, article="main article", body=second))
    expect(mark(page, "ferry")).to_have_text("the ferry timetables had been changed")
    expect(comment(page, "Shops!").locator("blockquote")).to_contain_text("passage changed")
    expect(page.get_by_role("button", name=ICON)).to_have_count(1)


def test_a_page_without_the_article_attribute_does_not_call_passages_changed(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    """Passage comments shown where the widget has no article to look in (no
    data-kibitz-article) and kibitz does not know the text: nothing says "passage changed"."""
    page = tab.page
    exact = "the ferry timetable had changed"
    anchor = {"exact": exact, "prefix": "Residents asked why ", "suffix": " without notice",
              "start": 20, "end": 20 + len(exact), "text_hash": "0123abcd"}  # fmt: skip
    r = api.client.post(
        "/api/v1/comments",
        json={"thread": thread, "body": "About the ferry.", "author_name": "Al", "anchor": anchor},
    )
    assert r.status_code == 201, r.text
    sec = open_widget(page, servers.page(thread))
    quoted = comment(page, "About the ferry.").locator("blockquote")
    expect(quoted.locator("q")).to_have_text(exact)
    expect(quoted).not_to_contain_text("passage changed")
    expect(quoted.get_by_role("button", name="Show in the article")).to_have_count(0)
    sec.get_by_role("button", name="Inline Feedbacks").click()
    heading = sec.locator("li.kb-grp").get_by_role("heading", level=3)
    expect(heading).to_contain_text(exact)
    expect(heading).not_to_contain_text("passage changed")


CASES = [
    ("The ferry timetable had changed. The ferry was late.", "The ferry", 1,
     "Update. The ferry timetable had changed. The ferry was late."),
    ("one two red apple three four. five red apple six seven.", "red apple", 1,
     "one two three four. five red apple six seven. red apple"),
    ("Ils ont dit: «la situation est compliquée» hier.", "la situation est compliquée", 0,
     "🛰️ Ils ont dit: «la situation est compliquee» hier."),
    ("alpha beta gamma delta epsilon", "gamma delta", 0, "alpha beta gaxxa dxxta epsilon"),
    ("alpha beta gamma delta epsilon", "gamma delta", 0, "alpha beta gamma dexta epsilon"),
    ("Tabs\tand   spaces around the passage here.", "the passage", 0,
     "Tabs and spaces, then around   the passage here."),
]  # fmt: skip
HTML = [
    "<h2>Title</h2>\n<p>One <em>two</em>\nthree&nbsp;four</p><ul><li>five</li><li>six</li></ul>",
    "<p>se<b>ven</b><br>eight</p><script>var no;</script>"
    "<p>nine<span data-kibitz-ignore>x</span></p>",
    "<p>Caf\u0065\u0301 \u0301 😀 na\u00efve\u2003\u3000end</p>",
]


def test_the_widget_and_the_server_agree(tab: Tab, servers: Servers) -> None:
    page = tab.page
    open_widget(page, servers.page(f"/e2e/{uuid.uuid4().hex[:12]}", article="main article"))
    run = """([html, sel, hash]) => {
      const k = document.querySelector('script[data-kibitz-thread]').kibitz;
      const el = document.createElement('div');
      el.innerHTML = html;
      const X = k.textOf(el);
      return [X.t, X.h, sel ? k.find(X, sel, hash) : null];
    }"""
    for html in HTML:
        text, h, _ = page.evaluate(run, [html, None, None])
        assert (text, h) == (anchoring.html_text(html), anchoring.text_hash(text))
    # every block element, and a few that are not, separate words alike
    tags = sorted(anchoring.BLOCK | {"span", "b", "h7", "thing", "mark", "a", "q"})
    joined = page.evaluate(
        """(tags) => tags.map((tag) => {
          const el = document.createElement('div');
          el.append('a', document.createElement(tag), 'b');
          if (!['br', 'hr', 'img', 'wbr'].includes(tag)) el.childNodes[1].append('c');
          return document.querySelector('script[data-kibitz-thread]').kibitz.textOf(el).t;
        })""",
        tags,
    )
    assert joined == [
        anchoring.html_text(f"a<{t}>b" if t in anchoring.VOID else f"a<{t}>c</{t}>b") for t in tags
    ]
    for old, exact, nth, new in CASES:
        start = -1
        for _ in range(nth + 1):
            start = old.index(exact, start + 1)
        sel = anchoring.selector(old, start, start + len(exact))
        html = f"<p>{new}</p>"
        server = anchoring.find(anchoring.html_text(html), sel, anchoring.text_hash(old))
        _, _, widget = page.evaluate(run, [html, sel.__dict__, anchoring.text_hash(old)])
        assert widget == ([server.start, server.end] if server else None), new


def test_axe_finds_nothing_with_the_passage_form_and_the_grouped_view_open(
    make_tab: TabFactory, servers: Servers, tmp_path: Path
) -> None:
    path = f"/e2e-inline/{uuid.uuid4().hex[:10]}"
    add_article(servers, tmp_path, path, story(3, path))
    for scheme in ("light", "dark"):
        page = make_tab(color_scheme=scheme).page
        open_widget(page, servers.api + path)
        page.get_by_role("button", name=re.compile("^Question: ")).click()
        expect(page.get_by_role("form", name="Answer the question")).to_be_visible()
        page.wait_for_timeout(300)
        assert _axe(page) == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"inline-question-{scheme}.png"))
    form = page.get_by_role("form", name="Answer the question")
    fill_form(form, "An answer for the grouped view.")
    form.get_by_role("button", name="Post Comment").click()
    sec = discussion(page)
    expect(sec.get_by_text("An answer for the grouped view.")).to_be_visible()  # posted
    sec.get_by_role("button", name="Inline Feedbacks").click()
    expect(sec.locator("li.kb-grp")).to_have_count(1)
    assert _axe(page) == []
