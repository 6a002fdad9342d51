"""The reference article as `make run` serves it, judged in Chromium: every element of the
page, its look on a desktop and a phone (screenshots in test-artifacts/), accessibility,
and the same page without JavaScript."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    ARTIFACTS,
    PLAIN_ARTICLE,
    REFERENCE,
    ROOT,
    Api,
    Servers,
    Tab,
    TabFactory,
)
from tests.e2e.widget import comment, discussion, open_widget, top_level_bodies

pytestmark = pytest.mark.browser

TITLE = (
    "Russia Is Strengthening Bases In Kyrgyzstan, Tajikistan To Counter Militants Based In "
    "Afghanistan: Defense Minister"
)
PHONE = {"width": 390, "height": 844}
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_the_reference_page_shows_every_element(tab: Tab, servers: Servers) -> None:
    page = tab.page
    asked = set()
    page.on("request", lambda r: asked.add(urlsplit(r.url).netloc))
    sec = open_widget(page, servers.api + "/")
    expect(page).to_have_title(f"{TITLE} · SouthFront")
    story = page.locator("article.story")
    expect(story.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(story.locator(".story-date time")).to_have_text("June 2, 2021")
    expect(story.locator(".story-date time")).to_have_attribute("datetime", re.compile("^2021-06"))
    lead = story.locator("figure.lead")
    expect(lead.locator("img")).to_be_visible()
    assert lead.locator("img").evaluate("(img) => img.complete && img.naturalWidth > 0")
    expect(lead.locator("figcaption")).to_have_text("IMAGE: mil.ru")
    body = story.locator(".story-body p")
    expect(body).to_have_count(3)
    expect(body.first).to_contain_text("ISIS is working to increase its influence")
    expect(body.last).to_contain_text("prevent infiltration of militants from Afghanistan.")
    # "Support SouthFront" before and after the story (and in the masthead)
    support = story.get_by_role("link", name="Support SouthFront")
    expect(support).to_have_count(2)
    for i in range(2):
        expect(support.nth(i)).to_have_attribute("href", "https://southfront.example/support/")
    tops = [support.nth(i).bounding_box()["y"] for i in range(2)]  # type: ignore[index]
    h1 = story.locator("h1").bounding_box()["y"]  # type: ignore[index]
    last_p = body.last.bounding_box()["y"]  # type: ignore[index]
    assert tops[0] < h1 and tops[1] > last_p

    # the discussion
    expect(sec.locator(".kb-count")).to_have_text("10 Comments")
    sorts = sec.get_by_role("group", name="Sort comments").get_by_role("button")
    expect(sorts).to_have_text(["Newest", "Oldest", "Most Voted", "Best"])
    form = sec.locator("form.kb-form-new")
    expect(form.locator("textarea")).to_have_attribute(
        "placeholder", "Would love your thoughts, please comment."
    )
    for label in ("Name", "E-mail", "Website", "Notify of", "Notify me of replies to this comment"):
        expect(form.get_by_label(label)).to_be_visible()
    expect(form.get_by_label("Notify of").locator("option")).to_have_text(
        ["nothing", "new follow-up comments", "new replies to my comments"]
    )
    expect(form.locator(".kb-help")).to_contain_text("Markdown works: *italic*, **bold**")
    expect(form.get_by_role("button", name="Preview")).to_be_visible()
    expect(form.get_by_role("button", name="Post Comment")).to_be_visible()
    expect(sec.locator("header").get_by_role("button", name="Subscribe")).to_be_visible()

    expect(sec.locator("article.kb-art")).to_have_count(10)
    names = set(sec.locator(".kb-name").all_inner_texts())
    assert names == {"Guest", "You can call me Al", "peter mcloughlin"}
    first = comment(page, "When the US started flying its ISIS troops")
    thread_of_first = first.locator("xpath=..")
    well = thread_of_first.locator("ol.kb-replies article").filter(has_text="Well it is, but")
    expect(well.locator(".kb-name")).to_have_text("You can call me Al")
    link = well.locator(".kb-body a")
    expect(link).to_have_attribute(
        "href",
        "https://journal-neo.org/2019/04/28/sri-lanka-us-saudi-terror-targets-chinas-allies/",
    )
    assert {"nofollow", "ugc"} <= set((link.get_attribute("rel") or "").split())
    peter = comment(page, "Central Asia is also a dangerous flash-point")
    expect(peter.locator(".kb-name")).to_have_text("peter mcloughlin")
    expect(peter.locator("button.kb-up")).to_have_text("9")
    expect(peter.locator("button.kb-down")).to_have_text("4")
    when = peter.locator("time")
    expect(when).to_have_text(re.compile(r"^\d+ years? ago$"))
    expect(when).to_have_attribute("title", re.compile(r"2021"))  # the full date on hover
    expect(when).to_have_attribute("datetime", re.compile(r"^2021-06-02T13:30"))

    bubble = page.locator(".kb-bubble .kb-fab")
    expect(bubble).to_have_text("10")

    # every sort order differs
    orders = {tuple(top_level_bodies(page))}
    for name in ("Oldest", "Most Voted", "Best"):
        sec.get_by_role("group", name="Sort comments").get_by_role("button", name=name).click()
        expect(sorts.filter(has_text=name)).to_have_attribute("aria-pressed", "true")
        expect(sec.locator("ol.kb-list").first).not_to_have_attribute("aria-busy", "true")
        orders.add(tuple(top_level_bodies(page)))
    assert len(orders) == 4
    assert asked == {urlsplit(servers.api).netloc}  # no third-party requests
    assert tab.csp_problems() == []  # kibitz's own pages have a strict CSP too
    assert [m.text for m in tab.console if m.type == "error"] == []


# a text box (per line) or a form control, anywhere in the page or its shadow roots, that
# covers another: what a reader would see as overlapping
OVERLAPS = """() => {
  const boxes = [];
  const visit = (root) => {
    const walker = document.createTreeWalker(root, 5);  // elements and text
    for (let n = walker.currentNode; n; n = walker.nextNode()) {
      const el = n.nodeType === 1 ? n : n.parentElement;
      const bubble = '[data-kibitz-bubble]';  // a floating overlay by design
      if (!el || el.closest(bubble) || el.getRootNode().host?.matches(bubble)) continue;
      if (n.nodeType === 1) {
        if (n.shadowRoot) visit(n.shadowRoot);
        if (['INPUT', 'TEXTAREA', 'SELECT', 'IMG', 'BUTTON'].includes(n.tagName)) {
          const r = n.getBoundingClientRect();
          const what = n.tagName + ' ' + (n.textContent || n.name || '').trim().slice(0, 30);
          if (r.width > 2 && r.height > 2) boxes.push({what, r, el: n});
        }
      } else if (n.textContent.trim()) {
        const parent = n.parentElement;
        if (!parent || parent.closest('.kb-sr') || parent.closest('[hidden]')) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        for (const r of range.getClientRects()) {
          const what = n.textContent.trim().slice(0, 30);
          if (r.width > 2 && r.height > 2) boxes.push({what, r, el: parent});
        }
      }
    }
  };
  visit(document.body);
  const hits = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      if (w > 2 && h > 2) hits.push(a.what + ' / ' + b.what);
    }
  }
  return hits;
}"""


def _settle(page: Page) -> None:
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(200)


def test_screenshots_desktop_and_phone_with_nothing_overlapping(
    make_tab: TabFactory, servers: Servers
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for name, options in {
        "reference-desktop": {"viewport": {"width": 1280, "height": 900}},
        "reference-phone": {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True,
                            "has_touch": True},
        "reference-desktop-dark": {"viewport": {"width": 1280, "height": 900},
                                   "color_scheme": "dark"},
    }.items():  # fmt: skip
        page = make_tab(**options).page
        open_widget(page, servers.api + "/")
        _settle(page)
        width = options["viewport"]["width"]  # type: ignore[index]
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "sideways scroll"
        assert page.evaluate(OVERLAPS) == [], name
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    # the phone with the reader at work: a reply form and the subscription panel open
    page = make_tab(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).page
    sec = open_widget(page, servers.api + "/")
    sec.locator("header").get_by_role("button", name="Subscribe").click()
    comment(page, "Well it is, but").get_by_role("button", name="Reply").click()
    _settle(page)
    assert page.evaluate(OVERLAPS) == []
    sec.screenshot(path=str(ARTIFACTS / "reference-phone-discussion.png"))


def _axe(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text("utf-8"))  # through the DevTools protocol: no CSP applies
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_with_the_widget_open(
    make_tab: TabFactory, servers: Servers, scheme: str
) -> None:
    assert AXE.is_file(), "axe-core is missing: run `make setup` (npm ci)"
    page = make_tab(color_scheme=scheme).page
    sec = open_widget(page, servers.api + "/")
    page.wait_for_timeout(300)  # let the bubble's transition finish
    assert _axe(page) == []
    # and with the reader's tools open: a reply form, the preview, the subscription panel
    sec.locator("header").get_by_role("button", name="Subscribe").click()
    comment(page, "Well it is, but").get_by_role("button", name="Reply").click()
    reply = sec.locator("form.kb-form-reply")
    reply.locator("textarea").fill("A *reply*")
    reply.get_by_role("button", name="Preview").click()
    expect(reply.locator(".kb-preview em")).to_have_text("reply")
    comment(page, "Central Asia is also").get_by_role("button", name="Report", exact=True).click()
    expect(sec.get_by_role("form", name="Report this comment")).to_be_visible()
    sec.locator("form.kb-form-new").get_by_role("button", name="Post Comment").click()  # errors
    expect(sec.locator("form.kb-form-new textarea")).to_have_attribute("aria-invalid", "true")
    assert _axe(page) == []
    # and axe does look inside the widget's shadow root: an unlabelled field is caught
    page.evaluate(
        "document.querySelector('#kibitz-thread').shadowRoot.querySelector('form')"
        ".append(document.createElement('input'))"
    )
    assert "label" in {v["id"] for v in _axe(page)}


def test_a_link_to_one_comment_brings_the_reader_to_it(
    tab: Tab, servers: Servers, api: Api
) -> None:
    [peter] = [
        c for c in api.thread(REFERENCE, sort="oldest")["comments"]
        if c["author"]["name"] == "peter mcloughlin"
    ]  # fmt: skip
    page = tab.page
    page.goto(f"{servers.api}{REFERENCE}#kibitz-comment-{peter['id']}")
    target = comment(page, "Central Asia is also a dangerous flash-point")
    expect(target).to_be_focused()
    expect(target).to_be_in_viewport()
    # and a link within the page (the hash changes, no reload)
    replies = api.thread(REFERENCE, sort="oldest")["comments"][0]["replies"]
    [al] = [c for c in replies if c["author"]["name"] == "You can call me Al"]
    page.evaluate(f"location.hash = '#kibitz-comment-{al['id']}'")
    expect(comment(page, "Well it is, but")).to_be_focused()


def test_without_javascript_the_page_shows_comments_and_a_form_that_posts(
    make_tab: TabFactory, servers: Servers, api: Api
) -> None:
    page = make_tab(java_script_enabled=False).page
    page.goto(servers.api + "/")
    plain = page.locator(".kb-discussion")
    expect(plain.locator("#kb-count")).to_have_text("10 Comments")
    expect(plain.locator("article")).to_have_count(10)
    link = plain.locator("a[href^='https://journal-neo.org/']")
    assert {"nofollow", "ugc"} <= set((link.get_attribute("rel") or "").split())
    expect(discussion(page)).to_have_count(0)  # no widget: no script ran
    assert page.evaluate(OVERLAPS) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reference-no-javascript.png"), full_page=True)

    # an article of kibitz's own: read, then post through the plain form
    api.post(PLAIN_ARTICLE, "A comment from a reader with JavaScript.", name="Al")
    page.goto(servers.api + PLAIN_ARTICLE)
    expect(plain.get_by_text("A comment from a reader with JavaScript.")).to_be_visible()
    form = plain.locator("form#kibitz-form")
    form.get_by_label("Comment", exact=True).fill("Posted *without* JavaScript.")
    form.get_by_label("Name").fill("Nadia")
    email = f"plain-{uuid.uuid4().hex[:8]}@example.org"
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Notify of").select_option(label="new follow-up comments")
    form.get_by_role("button", name="Post Comment").click()
    expect(page).to_have_url(
        re.compile(rf"{re.escape(PLAIN_ARTICLE)}\?posted=posted#kibitz-comment-\d+$")
    )
    expect(plain.get_by_role("status")).to_have_text("Comment posted.")
    posted = plain.locator("article").filter(has_text="Posted without JavaScript.")
    expect(posted.locator("em")).to_have_text("without")
    assert ("thread", PLAIN_ARTICLE, None) in servers.subscriptions(email)

    # a mistake comes back with the form filled in and the error next to the field
    form.get_by_label("Comment", exact=True).fill("No name this time.")
    form.get_by_label("Name").fill("")
    form.get_by_role("button", name="Post Comment").click()
    name = form.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(plain.locator("#kb-author_name-error")).to_have_text("Please give your name.")
    expect(form.get_by_label("Comment", exact=True)).to_have_value("No name this time.")
