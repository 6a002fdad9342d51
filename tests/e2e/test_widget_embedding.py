"""The widget on other people's pages: one script tag, strict CSP, hostile CSS, the host's
font and colour scheme, allowed and refused origins, the floating bubble and count.js."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Api, Servers, Tab, TabFactory
from tests.e2e.widget import comment, deep_active, discussion, main_form, open_widget, post

pytestmark = pytest.mark.browser


def test_works_under_a_strict_content_security_policy(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "Seen under a strict CSP.", name="Al")
    page = tab.page
    response = page.goto(servers.page(thread, csp=True))
    assert response is not None
    assert "default-src 'none'" in response.headers["content-security-policy"]
    open_widget(page, servers.page(thread, csp=True))
    expect(comment(page, "Seen under a strict CSP.")).to_be_visible()
    post(page, "Posted under a strict CSP.")
    form = main_form(page)
    form.locator("textarea").fill("*preview*")
    form.get_by_role("button", name="Preview").click()
    expect(form.locator(".kb-preview em")).to_have_text("preview")
    # styled: the stylesheet loaded (its rules apply inside the shadow root)
    radius = form.locator("textarea").evaluate("(el) => getComputedStyle(el).borderTopLeftRadius")
    assert radius == "10px"
    assert tab.csp_problems() == []
    assert len(api.thread(thread)["comments"]) == 2


def test_the_host_css_and_the_widget_leave_each_other_alone(
    tab: Tab, servers: Servers, thread: str
) -> None:
    page = tab.page
    page.goto(servers.page(thread))
    host_p = page.locator("main article p").first
    before = host_p.evaluate("(el) => getComputedStyle(el).cssText || getComputedStyle(el).font")
    sec = open_widget(page, servers.page(thread))
    # the host's `button, textarea, li { background: hotpink !important }` and
    # `.kb-sec, .kb-form { display: none !important }` do not reach into the widget
    expect(sec).to_be_visible()
    expect(main_form(page)).to_be_visible()
    for selector in ("textarea", "button.kb-primary"):
        bg = (
            main_form(page)
            .locator(selector)
            .evaluate("(el) => getComputedStyle(el).backgroundColor")
        )
        assert bg != "rgb(255, 105, 180)", selector
    transform = sec.locator("button").first.evaluate("(el) => getComputedStyle(el).textTransform")
    assert transform == "none"
    # it follows the host's font; the widget's rules do not reach the host's elements
    widget_font = sec.evaluate("(el) => getComputedStyle(el).fontFamily")
    assert widget_font.startswith("Georgia")
    after = host_p.evaluate("(el) => getComputedStyle(el).cssText || getComputedStyle(el).font")
    assert before == after
    assert page.evaluate("document.styleSheets.length") == 1  # the host's own, nothing added


def test_follows_the_hosts_light_or_dark_scheme(
    make_tab: TabFactory, servers: Servers, thread: str
) -> None:
    light = make_tab(color_scheme="light").page
    open_widget(light, servers.page(thread, dark=True))
    wrap = light.locator("#kibitz-thread").locator("div.kb")
    assert "kb-dark" not in (wrap.get_attribute("class") or "")

    dark = make_tab(color_scheme="dark").page
    open_widget(dark, servers.page(thread, dark=True))
    wrap = dark.locator("#kibitz-thread").locator("div.kb")
    expect(wrap).to_have_class("kb kb-dark")
    textarea = main_form(dark).locator("textarea")
    colour = textarea.evaluate("(el) => getComputedStyle(el).color")
    assert colour == "rgb(232, 232, 232)"  # the host's dark-scheme text colour, inherited
    bubble = dark.locator("[data-kibitz-bubble]").locator("div.kb")
    expect(bubble).to_have_class("kb kb-dark")


def test_follows_the_hosts_own_theme_switch(tab: Tab, servers: Servers, thread: str) -> None:
    """A site with its own light/dark button: a class on <html>, not the system setting."""
    page = tab.page
    open_widget(page, servers.page(thread))
    page.add_style_tag(content="html.dark body { background: #121212; color: #eee; }")
    wrap = page.locator("#kibitz-thread").locator("div.kb")
    pressed = discussion(page).locator(".kb-sorts [aria-pressed=true]")
    expect(wrap).to_have_class("kb")
    expect(pressed).to_have_css("background-color", "rgb(11, 87, 208)")  # the light accent
    page.evaluate("document.documentElement.classList.add('dark')")
    expect(wrap).to_have_class("kb kb-dark")
    expect(pressed).to_have_css("background-color", "rgb(168, 199, 250)")  # the dark one
    expect(page.locator("[data-kibitz-bubble]").locator("div.kb")).to_have_class("kb kb-dark")
    page.evaluate("document.documentElement.classList.remove('dark')")
    expect(wrap).to_have_class("kb")
    # a switch that sets data-theme and colours on <body> itself
    page.evaluate(
        "document.body.dataset.theme = 'dark';"
        "document.body.style.cssText = 'background: #000; color: #ddd'"
    )
    expect(wrap).to_have_class("kb kb-dark")


def test_an_allowed_origin_embeds_and_posts(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    asked = set()
    page.on("request", lambda r: asked.add(urlsplit(r.url).netloc))
    open_widget(page, servers.page(thread))
    assert servers.host != servers.api  # another origin than kibitz's
    post(page, "From the allowed origin.")
    assert asked == {urlsplit(servers.host).netloc, urlsplit(servers.api).netloc}
    [c] = api.thread(thread)["comments"]
    assert c["body_html"] == "<p>From the allowed origin.</p>"
    info = httpx.get(f"{servers.api}/api/v1/threads", params={"key": thread}).json()
    assert info["url"] == servers.page(thread)  # the thread opened for the host's page


def test_an_origin_that_is_not_allowed_is_refused(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "Only for allowed sites.", name="Al")
    page = tab.page
    page.goto(servers.page(thread, origin=servers.other))
    sec = discussion(page)
    expect(sec.locator(".kb-state")).to_contain_text("The comments could not be loaded.")
    expect(comment(page, "Only for allowed sites.")).to_have_count(0)
    # the browser refuses the page's own attempt to post (no CORS grant) ...
    outcome = page.evaluate(
        """async ([api, thread]) => {
        try {
            const r = await fetch(api + "/api/v1/comments", {method: "POST", credentials: "include",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({thread, body: "sneaky", author_name: "X"})});
            return "status " + r.status;
        } catch (e) { return "refused"; }
    }""",
        [servers.api, thread],
    )
    assert outcome == "refused"
    # ... and so does kibitz itself, whatever the client
    direct = httpx.post(
        f"{servers.api}/api/v1/comments",
        json={"thread": thread, "body": "sneaky", "author_name": "X"},
        headers={"Origin": servers.other},
    )
    assert direct.status_code == 403
    assert direct.json()["error"]["code"] == "origin_not_allowed"
    assert [c["body_html"] for c in api.thread(thread)["comments"]] == [
        "<p>Only for allowed sites.</p>"
    ]


def test_the_bubble_invites_closes_and_stays_closed(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "One comment.", name="Al")
    api.post(thread, "Two comments.", name="Bo")
    page = tab.page
    url = servers.page(thread, long=True, delay=300)
    open_widget(page, url)
    bubble = page.locator(".kb-bubble")
    fab = bubble.locator("button.kb-fab")
    expect(fab).to_have_text("2")
    expect(fab).to_have_accessible_name("2 comments. Go to the comment form")
    invite = bubble.locator(".kb-invite")
    expect(invite).to_be_visible()  # after the 300 ms delay
    expect(invite).to_contain_text("Would love your thoughts, please comment.")
    bubble.get_by_role("button", name="Close the invitation").click()
    expect(invite).to_be_hidden()
    expect(fab).to_be_focused()
    closed_at = page.evaluate("JSON.parse(localStorage.getItem('kibitz:bubble'))")
    assert abs(closed_at / 1000 - time.time()) < 60

    open_widget(page, url)
    page.wait_for_timeout(900)  # three times the delay: it would have shown by now
    expect(bubble.locator("button.kb-fab")).to_be_visible()
    expect(invite).to_be_hidden()

    # a week later it invites again
    page.evaluate("localStorage.setItem('kibitz:bubble', String(Date.now() - 8 * 864e5))")
    open_widget(page, url)
    expect(invite).to_be_visible()

    # clicking the bubble brings the reader to the form, and the bubble steps aside there
    fab.click()
    textarea = main_form(page).locator("textarea")
    expect(textarea).to_be_focused()
    expect(textarea).to_be_in_viewport()
    expect(bubble).to_have_class("kb-bubble kb-away")
    assert deep_active(page)["tag"] == "textarea"


def test_the_bubble_can_be_turned_off(tab: Tab, servers: Servers, thread: str) -> None:
    page = tab.page
    open_widget(page, servers.page(thread, bubble="off"))
    expect(page.locator("div[data-kibitz-bubble]")).to_have_count(0)
    expect(page.locator(".kb-fab")).to_have_count(0)


def test_count_script_fills_in_counts_on_a_list_page(tab: Tab, servers: Servers, api: Api) -> None:
    threads = [f"/e2e/count-{time.time_ns()}-{i}" for i in range(3)]
    for i, t in enumerate(threads):
        for j in range(i):
            api.post(t, f"Comment {j}", name="Al")
    page = tab.page
    page.goto(servers.list_page(threads))
    counts = page.locator("[data-kibitz-count]")
    expect(counts).to_have_text(["0 comments", "1 comment", "2 comments"])
    assert tab.csp_problems() == []
