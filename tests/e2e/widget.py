"""What a reader does with the widget, as plain functions over a Playwright page.

Playwright's CSS and role locators pierce open shadow roots, so these reach inside the
widget the way a reader's eyes and keyboard do. ``.kb-sec`` is the widget's discussion; the
server-rendered discussion it replaces on kibitz's own pages (``.kb-discussion``) is not
rendered once the widget is on.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

COUNT = re.compile(r"^\d+ Comments?$")


def discussion(page: Page) -> Locator:
    return page.locator(".kb-sec")


def open_widget(page: Page, url: str) -> Locator:
    """Go to the page and wait until the widget has shown its first page of comments."""
    page.goto(url)
    sec = discussion(page)
    expect(sec).to_be_visible()
    expect(sec.locator(".kb-count")).to_have_text(COUNT)
    expect(sec.locator("ol.kb-list").first).not_to_have_attribute("aria-busy", "true")
    return sec


def comment(page: Page, text: str) -> Locator:
    """The comment (its <article>) whose body contains the text."""
    return (
        discussion(page)
        .locator("article.kb-art")
        .filter(has=page.locator(".kb-body", has_text=text))
    )


def top_level_bodies(page: Page) -> list[str]:
    """The first line of each top-level comment, in the order shown."""
    texts: list[str] = (
        discussion(page).locator(":scope > ol.kb-list > li > article .kb-body").all_inner_texts()
    )
    return [t.strip().splitlines()[0] for t in texts]


def fill_form(
    form: Locator, body: str, *, name: str | None = "Nadia", email: str | None = None
) -> None:
    form.locator("textarea").fill(body)
    if name is not None:
        form.get_by_label("Name").fill(name)
    if email is not None:
        form.get_by_label("E-mail").fill(email)


def main_form(page: Page) -> Locator:
    return discussion(page).locator("form.kb-form-new")


def post(
    page: Page,
    body: str,
    *,
    name: str = "Nadia",
    email: str | None = None,
    shown: str | None = None,
) -> Locator:
    """Post a top-level comment through the form and wait for it to show (as ``shown``,
    when the Markdown renders differently)."""
    form = main_form(page)
    fill_form(form, body, name=name, email=email)
    form.get_by_role("button", name="Post Comment").click()
    posted = comment(page, shown or body)
    expect(posted).to_be_visible()
    return posted


def live_region(page: Page) -> Locator:
    return discussion(page).locator("[role=status].kb-sr")


def deep_active(page: Page) -> dict[str, Any]:
    """The element that has the keyboard focus, looking through shadow roots."""
    found: dict[str, Any] = page.evaluate(
        """() => {
        let el = document.activeElement;
        while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
        if (!el) return {};
        const style = getComputedStyle(el);
        return {tag: el.tagName.toLowerCase(), text: (el.textContent || "").trim(),
                label: el.getAttribute("aria-label") || "", name: el.getAttribute("name") || "",
                outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
                placeholder: el.getAttribute("placeholder") || ""};
    }"""
    )
    return found
