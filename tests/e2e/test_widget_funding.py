"""The funding bar drawn by the widget (``data-kibitz-campaign``) on a host page of another
origin with a strict CSP, in Chromium: the same bar as the server renders, accessible (axe,
light and dark), still with reduced motion, an exceeded goal said in words."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ARTIFACTS, HOLD_WORD, ROOT, Api, Servers, Tab, TabFactory
from tests.e2e.test_reference_page import OVERLAPS, PHONE
from tests.e2e.widget import comment, fill_form, main_form, open_widget

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def bar(page: Page) -> Any:
    return page.locator("#kibitz-funding .kb-funding")


def axe(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text("utf-8"))  # through the DevTools protocol: no CSP applies
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]
    ]


@pytest.fixture(scope="module")
def exceeded(servers: Servers) -> str:
    """A campaign of this month whose goal (1,000 $) is exceeded (1,250 $)."""
    slug = f"m{uuid.uuid4().hex[:8]}"
    servers.kibitz(
        "campaign", "create", slug, "--name", "Keep the lights on", "--goal", "1000",
        "--currency", "USD", "--start", datetime.now(UTC).strftime("%Y-%m"),
    )  # fmt: skip
    servers.kibitz("ledger", "add", slug, "--amount", "1250", "--method", "bank_transfer")
    return slug


def test_the_widget_draws_the_reference_bar_as_the_server_does(
    tab: Tab, servers: Servers, thread: str
) -> None:
    page = tab.page
    page.emulate_media(reduced_motion="reduce")
    open_widget(page, servers.page(thread, csp=True, campaign="southfront"))
    shown = bar(page).inner_text()
    for text in ("0 $", "2,500 $", "5,000 $", "1,660 $", "JUNE 2021"):
        assert text in shown, shown
    assert "1,660 $ raised of 5,000 $ goal, June 2021" in shown  # the visible sentence
    meter = page.get_by_role("progressbar", name="Support SouthFront, June 2021")
    expect(meter).to_have_attribute("aria-valuenow", "1660")
    expect(meter).to_have_attribute("aria-valuemin", "0")
    expect(meter).to_have_attribute("aria-valuemax", "5000")
    expect(meter).to_have_attribute("aria-valuetext", "1,660 $ raised of 5,000 $ goal, June 2021")
    tree = bar(page).aria_snapshot()
    assert "2,500 $" not in tree.replace("goal, June 2021", "")  # no tick is read out
    fill = page.locator("#kibitz-funding .kb-funding-fill").bounding_box()
    track = page.locator("#kibitz-funding .kb-funding-track").bounding_box()
    assert fill and track and abs(fill["width"] / track["width"] - 0.332) < 0.01
    # above the discussion, with a way to give
    box = bar(page).bounding_box()
    sec = page.locator(".kb-sec").bounding_box()
    assert box and sec and box["y"] + box["height"] <= sec["y"]
    expect(bar(page).get_by_role("link", name="Donate")).to_have_attribute(
        "href", f"{servers.api}/donate?campaign=southfront"
    )
    expect(bar(page).get_by_role("link", name="About this campaign")).to_have_attribute(
        "href", f"{servers.api}/funding/southfront"
    )
    assert tab.csp_problems() == []

    # the same graphic, figure for figure, as the server-rendered bar
    def drawing(p: Page, scope: str) -> dict[str, Any]:
        found: dict[str, Any] = p.locator(scope).evaluate(
            """(s) => ({
              shapes: [...s.querySelectorAll("svg *")].map(e => e.getAttribute("class") + " " +
                 ["x", "x1", "y", "y1", "y2", "width", "text-anchor"].map(a => e.getAttribute(a))
                 .join(" ") + " " + e.textContent),
              figures: s.querySelector(".kb-funding-figures").textContent.trim()})"""
        )
        return found

    widget = drawing(page, "#kibitz-funding .kb-funding")
    server = make_page(tab, f"{servers.api}/funding/southfront")
    assert widget == drawing(server, ".kb-funding")


def make_page(tab: Tab, url: str) -> Page:
    page = tab.page.context.new_page()
    page.goto(url)
    return page


def test_an_exceeded_goal_is_said_in_words(
    tab: Tab, servers: Servers, exceeded: str, thread: str
) -> None:
    page = tab.page
    open_widget(page, servers.page(thread, campaign=exceeded))
    figures = bar(page).locator(".kb-funding-figures")
    expect(figures.locator(".kb-funding-badge")).to_have_text("Goal exceeded")
    sentence = bar(page).locator(".kb-funding-sentence")
    expect(sentence).to_contain_text("1,250 $ raised of 1,000 $ goal")
    expect(sentence).to_contain_text("goal exceeded by 250 $")
    expect(bar(page).locator(".kb-funding-over")).to_have_count(1)
    meter = page.get_by_role("progressbar")
    expect(meter).to_have_attribute("aria-valuenow", "1250")
    expect(meter).to_have_attribute("aria-valuemax", "1250")


def test_reduced_motion_keeps_the_bar_still(
    browser: Browser, servers: Servers, thread: str
) -> None:
    for motion, animation in (("no-preference", "kb-funding-grow"), ("reduce", "none")):
        context = browser.new_context(reduced_motion=motion)
        page = context.new_page()
        page.goto(servers.page(thread, csp=True, campaign="southfront"))
        fill = page.locator("#kibitz-funding .kb-funding-fill")
        expect(fill).to_be_attached()
        assert fill.evaluate("e => getComputedStyle(e).animationName") == animation
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_with_the_bar_and_every_new_control(
    make_tab: TabFactory, servers: Servers, api: Api, exceeded: str, scheme: str, thread: str
) -> None:
    """The bar, a held comment, the report form and the "new comments" banner, all at once."""
    api.post(thread, "A comment to report.")
    page = make_tab(color_scheme=scheme, reduced_motion="reduce").page
    dark = scheme == "dark"
    # the dark page paints its own background (host CSS, so no strict CSP): axe cannot see
    # the colour of a canvas that only color-scheme darkened
    sec = open_widget(page, servers.page(thread, csp=not dark, campaign=exceeded, dark=dark))
    expect(bar(page)).to_be_visible()
    form = main_form(page)
    fill_form(form, f"Held {HOLD_WORD} for a moderator.")
    form.get_by_role("button", name="Post Comment").click()
    expect(sec.locator(".kb-pending")).to_be_visible()
    comment(page, "to report").get_by_role("button", name="Report", exact=True).click()
    api.post(thread, "Someone else writes meanwhile.")
    expect(sec.locator(".kb-newc")).to_have_text("1 new comment")
    page.wait_for_timeout(300)  # the new comment's highlight fades
    assert axe(page) == []
    page.screenshot(path=str(ARTIFACTS / f"widget-funding-moderation-live-{scheme}.png"))


def test_the_bar_alone_and_a_campaign_that_is_not_there(
    tab: Tab, servers: Servers, thread: str
) -> None:
    page = tab.page
    page.goto(servers.page(thread, campaign="southfront", discussion="off"))
    expect(bar(page)).to_contain_text("1,660 $ raised of 5,000 $ goal, June 2021")
    expect(page.locator(".kb-sec")).to_have_count(0)
    expect(page.locator(".kb-bubble")).to_have_count(0)
    page.goto(servers.page(thread, campaign="no-such-campaign"))
    expect(page.locator(".kb-sec .kb-count")).to_have_text("0 Comments")
    expect(page.locator("#kibitz-funding")).to_have_count(0)
    assert json.dumps(tab.errors) == "[]"


def test_on_a_phone_nothing_overlaps(
    make_tab: TabFactory, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "A comment to report, on a phone.")
    page = make_tab(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).page
    sec = open_widget(page, servers.page(thread, campaign="southfront"))
    form = main_form(page)
    fill_form(form, f"Held {HOLD_WORD} on a phone.")
    form.get_by_role("button", name="Post Comment").click()
    expect(sec.locator(".kb-pending")).to_be_visible()
    comment(page, "on a phone.").get_by_role("button", name="Report", exact=True).click()
    api.post(thread, "Meanwhile, on another phone.")
    expect(sec.locator(".kb-newc")).to_have_text("1 new comment")
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(OVERLAPS) == []
    page.screenshot(path=str(ARTIFACTS / "widget-phone-new-controls.png"), full_page=True)
