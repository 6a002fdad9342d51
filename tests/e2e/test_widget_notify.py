"""Notify of: the reader's choices in the widget, checked where they land (kibitz's database
and its outbox), not just on screen."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Api, Servers, Tab
from tests.e2e.widget import comment, discussion, fill_form, live_region, main_form, open_widget

pytestmark = pytest.mark.browser


def address() -> str:
    return f"reader-{uuid.uuid4().hex[:10]}@example.org"


def confirmation_mails(servers: Servers, email: str) -> int:
    [(n,)] = servers.query(
        "SELECT count(*) FROM outbox WHERE topic = 'mail' AND payload LIKE ?", f"%{email}%"
    )
    return int(n)


@pytest.mark.parametrize(
    ("choice", "kind"),
    [("new follow-up comments", "thread"), ("new replies to my comments", "replies")],
)
def test_notify_of_in_the_comment_form(
    tab: Tab, servers: Servers, api: Api, thread: str, choice: str, kind: str
) -> None:
    page = tab.page
    email = address()
    open_widget(page, servers.page(thread))
    form = main_form(page)
    fill_form(form, f"Tell me about {kind}.", email=email)
    form.get_by_label("Notify of").select_option(label=choice)
    form.get_by_role("button", name="Post Comment").click()
    expect(comment(page, f"Tell me about {kind}.")).to_be_visible()
    expect(live_region(page)).to_contain_text("Comment posted. Notifications go to your e-mail")
    assert servers.subscriptions(email) == [(kind, thread, None)]
    assert confirmation_mails(servers, email) == 1  # double opt-in: asked to confirm first
    expect(form.get_by_label("Notify of")).to_have_value(kind)  # kept for the next comment


def test_notify_me_of_replies_to_this_comment(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    email = address()
    api.post(thread, "Answer me.", name="Al")
    open_widget(page, servers.page(thread))
    comment(page, "Answer me.").get_by_role("button", name="Reply").click()
    form = discussion(page).locator("form.kb-form-reply")
    fill_form(form, "My reply; tell me when someone answers it.", email=email)
    box = form.get_by_label("Notify me of replies to this comment")
    box.check()
    form.get_by_role("button", name="Post Reply").click()
    expect(comment(page, "My reply; tell me when")).to_be_visible()
    [top] = api.thread(thread)["comments"]
    [mine] = top["replies"]
    assert servers.subscriptions(email) == [("comment", thread, mine["id"])]


def test_nothing_means_no_subscription_and_notify_needs_an_email(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    email = address()
    open_widget(page, servers.page(thread))
    form = main_form(page)
    expect(form.get_by_label("Notify of")).to_have_value("none")
    fill_form(form, "No mail for me, thanks.", email=email)
    form.get_by_role("button", name="Post Comment").click()
    expect(comment(page, "No mail for me, thanks.")).to_be_visible()
    assert servers.subscriptions(email) == []

    fill_form(form, "Notify me, but of what address?", email="")
    form.get_by_label("Notify of").select_option("thread")
    form.get_by_role("button", name="Post Comment").click()
    field = form.get_by_label("E-mail")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    error_id = field.get_attribute("aria-describedby")
    expect(form.locator(f"#{error_id}")).to_have_text("Give your e-mail address to be notified.")
    assert len(api.thread(thread)["comments"]) == 1  # nothing posted


def test_subscribing_without_commenting(tab: Tab, servers: Servers, thread: str) -> None:
    page = tab.page
    email = address()
    sec = open_widget(page, servers.page(thread))  # nobody has commented here yet
    toggle = sec.locator("header").get_by_role("button", name="Subscribe")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    panel = sec.get_by_role("form", name="Subscribe without commenting")
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    field = panel.get_by_label("E-mail")
    expect(field).to_be_focused()

    panel.get_by_role("button", name="Subscribe").click()  # no address yet
    expect(field).to_have_attribute("aria-invalid", "true")
    error_id = field.get_attribute("aria-describedby")
    expect(panel.locator(f"#{error_id}")).to_have_text(
        "An e-mail address is needed for notifications."
    )

    field.fill(email)
    panel.get_by_label("Notify of").select_option(label="new replies to my comments")
    panel.get_by_role("button", name="Subscribe").click()
    expect(panel.get_by_role("status")).to_have_text(
        f"Almost done: open the mail we sent to {email} to confirm."
    )
    expect(field).not_to_have_attribute("aria-invalid", "true")
    assert servers.subscriptions(email) == [("replies", thread, None)]
    panel.get_by_label("Notify of").select_option(label="new follow-up comments")
    panel.get_by_role("button", name="Subscribe").click()
    expect(panel.get_by_role("status")).to_contain_text("Almost done")
    assert servers.subscriptions(email) == [("replies", thread, None), ("thread", thread, None)]
    assert confirmation_mails(servers, email) == 1  # one confirmation for the address
