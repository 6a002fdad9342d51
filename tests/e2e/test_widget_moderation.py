"""Moderation as a reader meets it in the widget, in Chromium on a host page of another origin:
a held comment shown to its author alone, marked; reporting a comment by keyboard; pinned and
featured marks; and the moderator's day through the real widget (log in, approve from the
queue, ban, the banned reader's next post refused and the form replaced by the message).

The shared kibitz holds comments with ``HOLD_WORD`` (see conftest.py) and nothing else."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import HOLD_WORD, Api, Servers, TabFactory
from tests.e2e.widget import comment, discussion, fill_form, live_region, main_form, open_widget

pytestmark = pytest.mark.browser
PASSWORD = "a long and careful passphrase"


def held_mark(page: Page, text: str) -> object:
    return comment(page, text).locator(".kb-pending")


def test_a_held_comment_is_shown_to_its_author_alone(
    make_tab: TabFactory, servers: Servers, api: Api, thread: str
) -> None:
    first = api.post(thread, "The ferry timetable changed again.")
    page = make_tab().page
    open_widget(page, servers.page(thread, csp=True))
    form = main_form(page)
    # the honeypot: off the screen, out of the tab order and of the accessibility tree
    trap = form.locator(".kb-hp")
    expect(trap).to_have_attribute("aria-hidden", "true")
    expect(trap.locator("input")).to_have_attribute("tabindex", "-1")
    expect(trap.locator("input")).not_to_be_in_viewport()
    fill_form(form, f"Is this {HOLD_WORD} comment held?", name="Hana")
    with page.expect_request(lambda r: r.url.endswith("/api/v1/comments")) as sent:
        form.get_by_role("button", name="Post Comment").click()
    body = sent.value.post_data_json
    assert body["honeypot"] == "" and body["form_token"], body
    held = comment(page, "comment held?")
    expect(held.locator(".kb-pending")).to_have_text("Awaiting moderation")
    expect(live_region(page)).to_contain_text("Your comment is awaiting moderation")
    expect(discussion(page).locator(".kb-count")).to_have_text("1 Comment")
    # and a held reply, under its parent
    comment(page, "timetable changed").get_by_role("button", name="Reply").click()
    reply = discussion(page).locator("form.kb-form-reply")
    fill_form(reply, f"A held {HOLD_WORD} reply.", name="Hana")
    reply.get_by_role("button", name="Post Reply").click()
    expect(held_mark(page, "kibitzhold reply")).to_be_visible()

    page.reload()
    open_widget(page, servers.page(thread, csp=True))
    expect(held.locator(".kb-pending")).to_have_text("Awaiting moderation")
    parent = page.locator(f"#kibitz-comment-{first['id']}")
    expect(parent.locator("ol.kb-replies article")).to_contain_text("A held")

    other = make_tab().page
    sec = open_widget(other, servers.page(thread))
    expect(sec.locator("article.kb-art")).to_have_count(1)
    expect(comment(other, "comment held?")).to_have_count(0)
    expect(comment(other, "kibitzhold reply")).to_have_count(0)


def test_a_reader_reports_a_comment_by_keyboard(
    make_tab: TabFactory, servers: Servers, api: Api, thread: str
) -> None:
    posted = api.post(thread, "Buy cheap watches at my shop.", name="Spammer")
    page = make_tab().page
    open_widget(page, servers.page(thread))
    spam = comment(page, "cheap watches")
    report = spam.get_by_role("button", name="Report", exact=True)
    report.focus()
    page.keyboard.press("Enter")
    expect(report).to_have_attribute("aria-expanded", "true")
    box = spam.get_by_role("form", name="Report this comment")
    why = box.get_by_label("Why?")
    expect(why).to_be_focused()
    expect(why.locator("option")).to_have_text(["Spam", "Abuse", "Off-topic", "Other"])
    page.keyboard.press("Escape")  # changed their mind: back where they were
    expect(box).to_have_count(0)
    expect(report).to_be_focused()

    page.keyboard.press("Enter")
    why.select_option("abuse")
    box.get_by_label("Details (optional)").fill("Advertising, twice this week")
    box.get_by_label("Details (optional)").press("Enter")
    expect(spam.locator(".kb-ok")).to_have_text("Thank you. A moderator will look at this comment.")
    expect(report).to_be_focused()
    rows = servers.query("SELECT reason, note FROM reports WHERE comment_id = ?", posted["id"])
    assert rows == [("abuse", "Advertising, twice this week")]
    report.click()
    spam.get_by_role("button", name="Send report").click()
    expect(spam.locator(".kb-ok")).to_have_text("You have reported this comment already.")
    assert len(servers.query("SELECT 1 FROM reports WHERE comment_id = ?", posted["id"])) == 1


def test_no_report_button_on_ones_own_comment(
    make_tab: TabFactory, servers: Servers, thread: str
) -> None:
    page = make_tab().page
    open_widget(page, servers.page(thread))
    form = main_form(page)
    fill_form(form, "My own words.")
    form.get_by_role("button", name="Post Comment").click()
    mine = comment(page, "My own words.")
    expect(mine.get_by_role("button", name="Edit")).to_be_visible()
    expect(mine.get_by_role("button", name="Report", exact=True)).to_have_count(0)


@pytest.fixture(scope="module")
def moderator(servers: Servers) -> str:
    email = f"mod-{uuid.uuid4().hex[:8]}@example.org"
    out = servers.kibitz(
        "admin", "create", email, "--name", "Mo Derator", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert "created admin" in out
    return email


def test_the_moderators_day_through_the_widget(
    make_tab: TabFactory, servers: Servers, moderator: str, thread: str
) -> None:
    reader = make_tab().page
    open_widget(reader, servers.page(thread, csp=True))
    form = main_form(reader)
    fill_form(form, f"First time here {HOLD_WORD}: is the ferry running?", name="Rex")
    form.get_by_role("button", name="Post Comment").click()
    expect(held_mark(reader, "ferry running")).to_be_visible()

    mod = make_tab().page
    mod.goto(servers.api + "/admin")
    mod.fill("#email", moderator)
    mod.fill("#password", PASSWORD)
    mod.click("button:has-text('Log in')")
    mod.goto(f"{servers.api}/admin/comments?queue=pending&thread={thread}")
    item = mod.locator(".item", has_text="ferry running")
    expect(item).to_be_visible()
    mod.keyboard.press("j")
    mod.keyboard.press("a")
    expect(mod.locator(".notice")).to_have_text("1 comment approved.")
    # the reader's page learns it from the event stream: published, in place
    expect(held_mark(reader, "ferry running")).to_have_count(0)
    expect(comment(reader, "ferry running").get_by_role("button", name="Reply")).to_be_visible()

    mod.goto(f"{servers.api}/admin/comments?queue=approved&thread={thread}")
    approved = mod.locator(".item", has_text="ferry running")
    approved.get_by_role("button", name="Pin").click()
    expect(mod.locator(".notice")).to_be_visible()
    mod.locator(".item", has_text="ferry running").get_by_role("button", name="Feature").click()
    expect(mod.locator(".item", has_text="ferry running").locator(".badge")).to_contain_text(
        ["featured"]
    )
    open_widget(reader, servers.page(thread, csp=True))
    marks = comment(reader, "ferry running").locator(".kb-badge")
    expect(marks).to_have_text(["Pinned", "Featured"])
    form = main_form(reader)

    mod.locator(".item", has_text="ferry running").get_by_text("Edit, ban…").click()
    mod.fill("#reason", "e2e: testing the ban in the widget")
    mod.fill("#days", "2")
    mod.click("#ban button:has-text('Ban')")
    expect(mod.locator(".notice")).to_contain_text("Banned")

    # the reader, whose page is still open, writes again: refused, and told why, in place
    fill_form(form, "Let me back in")
    form.get_by_role("button", name="Post Comment").click()
    banned = discussion(reader).locator(".kb-banned")
    expect(banned).to_contain_text("You cannot post here")
    expect(banned).to_be_focused()
    expect(main_form(reader)).to_have_count(0)
    expect(comment(reader, "Let me back in")).to_have_count(0)
    # and on the next visit the message stands where the form was, with no Reply buttons
    open_widget(reader, servers.page(thread, csp=True))
    expect(discussion(reader).locator(".kb-banned")).to_contain_text("You cannot post here")
    expect(main_form(reader)).to_have_count(0)
    expect(comment(reader, "ferry running").get_by_role("button", name="Reply")).to_be_hidden()
    assert servers.query("SELECT count(*) FROM comments WHERE body_md LIKE 'Let me back in%'") == [
        (0,)
    ]


def test_a_conversation_closed_to_replies_offers_no_reply(
    make_tab: TabFactory, servers: Servers, api: Api, thread: str
) -> None:
    shut = api.post(thread, "A conversation that went too far.")
    api.post(thread, "A reply in it.", parent=shut["id"])
    api.post(thread, "A conversation still open.")
    # what "Close replies" in the dashboard does, before anyone has read the thread
    conn = sqlite3.connect(servers.db, timeout=10)
    with conn:
        conn.execute(
            "UPDATE comments SET replies_closed_at = '2026-01-01 00:00:00.000000' WHERE id = ?",
            (shut["id"],),
        )
    conn.close()
    page = make_tab().page
    open_widget(page, servers.page(thread))
    for text in ("went too far", "A reply in it"):
        expect(comment(page, text).get_by_role("button", name="Reply")).to_be_hidden()
    expect(comment(page, "still open").get_by_role("button", name="Reply")).to_be_visible()
