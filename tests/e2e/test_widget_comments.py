"""A reader's discussion in the widget on a host page: posting, replying, editing, deleting,
voting, sorting, long threads, the keyboard alone, and hostile input."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Api, Servers, Tab
from tests.e2e.widget import (
    comment,
    deep_active,
    discussion,
    fill_form,
    live_region,
    main_form,
    open_widget,
    post,
    top_level_bodies,
)

pytestmark = pytest.mark.browser


def test_post_reply_edit_and_delete(tab: Tab, servers: Servers, api: Api, thread: str) -> None:
    page = tab.page
    sec = open_widget(page, servers.page(thread))
    expect(sec.locator(".kb-state")).to_have_text("No comments yet. Be the first.")

    first = post(page, "The ferry timetable *matters*.", shown="The ferry timetable matters.")
    expect(sec.locator(".kb-count")).to_have_text("1 Comment")
    expect(live_region(page)).to_have_text("Comment posted.")
    expect(first.locator("em")).to_have_text("matters")
    expect(first.locator(".kb-name")).to_have_text("Nadia")
    [stored] = api.thread(thread)["comments"]
    assert stored["author"]["name"] == "Nadia" and "<em>matters</em>" in stored["body_html"]

    # reply: the form opens under the comment, the reply lands nested under it
    first.get_by_role("button", name="Reply").click()
    reply_form = sec.locator("form.kb-form-reply")
    expect(reply_form.locator("textarea")).to_be_focused()
    expect(reply_form.get_by_label("Name")).to_have_value("Nadia")  # remembered
    reply_form.locator("textarea").fill("And the Sunday market.")
    reply_form.get_by_role("button", name="Post Reply").click()
    reply = comment(page, "And the Sunday market.")
    expect(reply).to_be_focused()
    expect(sec.locator("li.kb-c ol.kb-replies article.kb-art")).to_have_count(1)
    expect(reply_form).to_have_count(0)
    expect(sec.locator(".kb-count")).to_have_text("2 Comments")
    [top] = api.thread(thread)["comments"]
    assert [r["body_html"] for r in top["replies"]] == ["<p>And the Sunday market.</p>"]

    # edit one's own comment within the window
    first.get_by_role("button", name="Edit").click()
    edit_form = sec.locator("form.kb-form-edit")
    expect(edit_form.locator("textarea")).to_have_value("The ferry timetable *matters*.")
    edit_form.locator("textarea").fill("The ferry timetable matters **a lot**.")
    edit_form.get_by_role("button", name="Save").click()
    edited = comment(page, "The ferry timetable matters")
    expect(edited.locator("strong")).to_have_text("a lot")
    expect(edited.locator(".kb-edited")).to_have_text("(edited)")
    [top] = api.thread(thread)["comments"]
    assert "<strong>a lot</strong>" in top["body_html"] and top["edited_at"]

    # delete the reply: it leaves; delete the comment with a reply: a placeholder stays
    reply.get_by_role("button", name="Delete").click()
    reply.get_by_role("button", name="Yes, delete").click()
    expect(comment(page, "Sunday market")).to_have_count(0)
    api.post(thread, "Someone else answers.", name="Al", parent=top["id"])
    open_widget(page, servers.page(thread))
    edited = comment(page, "The ferry timetable matters")
    edited.get_by_role("button", name="Delete").click()
    edited.get_by_role("button", name="Cancel").click()
    expect(edited).to_be_visible()
    edited.get_by_role("button", name="Delete").click()
    edited.get_by_role("button", name="Yes, delete").click()
    placeholder = sec.locator("article.kb-gone")
    expect(placeholder.locator(".kb-name")).to_have_text("[deleted]")
    expect(comment(page, "Someone else answers.")).to_be_visible()
    expect(sec.locator(".kb-count")).to_have_text("1 Comment")
    [top] = api.thread(thread)["comments"]
    assert top["status"] == "deleted" and top["body_html"] == ""
    assert top["author"]["name"] is None


def test_a_deleted_comment_left_without_replies_leaves_the_page(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    sec = open_widget(page, servers.page(thread))
    first = post(page, "I will think better of this.")
    first.get_by_role("button", name="Reply").click()
    sec.locator("form.kb-form-reply textarea").fill("And of this.")
    sec.locator("form.kb-form-reply").get_by_role("button", name="Post Reply").click()
    reply = comment(page, "And of this.")
    expect(reply).to_be_focused()
    first.get_by_role("button", name="Delete").click()
    first.get_by_role("button", name="Yes, delete").click()
    expect(sec.locator("article.kb-gone")).to_have_count(1)  # it still has a reply
    reply.get_by_role("button", name="Delete").click()
    reply.get_by_role("button", name="Yes, delete").click()
    expect(sec.locator("article.kb-art")).to_have_count(0)
    expect(sec.locator(".kb-state")).to_have_text("No comments yet. Be the first.")
    expect(sec.locator(".kb-count")).to_have_text("0 Comments")
    expect(main_form(page).locator("textarea")).to_be_focused()
    assert api.thread(thread)["comments"] == []


def test_someone_elses_comment_has_no_edit_or_delete(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "Posted from elsewhere.", name="Al")
    open_widget(tab.page, servers.page(thread))
    theirs = comment(tab.page, "Posted from elsewhere.")
    expect(theirs.get_by_role("button", name="Reply")).to_be_visible()
    expect(theirs.get_by_role("button", name="Edit")).to_have_count(0)
    expect(theirs.get_by_role("button", name="Delete")).to_have_count(0)


def test_errors_show_next_to_the_field_and_preview_renders(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    open_widget(page, servers.page(thread))
    form = main_form(page)
    form.get_by_role("button", name="Post Comment").click()
    body = form.locator("textarea")
    expect(body).to_have_attribute("aria-invalid", "true")
    error_id = body.get_attribute("aria-describedby")
    expect(form.locator(f"#{error_id}")).to_have_text("Write something before posting.")
    expect(body).to_be_focused()

    fill_form(form, "Hello", name="Nadia")
    form.get_by_label("Website").fill("javascript:alert(1)")
    form.get_by_role("button", name="Post Comment").click()
    website = form.get_by_label("Website")
    expect(website).to_have_attribute("aria-invalid", "true")
    error_id = website.get_attribute("aria-describedby")
    expect(form.locator(f"#{error_id}")).to_have_text(
        "A website is an http:// or https:// address."
    )
    expect(body).not_to_have_attribute("aria-invalid", "true")
    assert api.thread(thread)["comments"] == []

    # preview shows the server's rendering and follows typing
    website.fill("")
    body.fill("**bold** and [a link](https://example.org)")
    preview = form.get_by_role("button", name="Preview")
    preview.click()
    expect(preview).to_have_attribute("aria-pressed", "true")
    shown = form.locator(".kb-preview")
    expect(shown.locator("strong")).to_have_text("bold")
    expect(shown.locator("a")).to_have_attribute("rel", re.compile(r"nofollow.*ugc"))
    body.fill("now *italic*")
    expect(shown.locator("em")).to_have_text("italic")
    preview.click()
    expect(shown).to_be_hidden()


def test_votes_count_toggle_and_are_remembered(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    theirs = api.post(thread, "Vote on me.", name="Al")
    open_widget(page, servers.page(thread))
    c = comment(page, "Vote on me.")
    up = c.locator("button.kb-up")
    down = c.locator("button.kb-down")
    expect(up).to_have_accessible_name("Vote up, 0 votes")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_text("1")
    assert api.thread(thread)["comments"][0]["votes"] == {"up": 1, "down": 0, "score": 1}

    down.click()  # changes the vote
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(up).to_have_text("0")
    expect(down).to_have_text("1")

    open_widget(page, servers.page(thread))  # again: the reader's own vote shows
    down = comment(page, "Vote on me.").locator("button.kb-down")
    expect(down).to_have_attribute("aria-pressed", "true")
    down.click()  # taken back
    expect(down).to_have_attribute("aria-pressed", "false")
    expect(down).to_have_text("0")
    assert api.thread(thread)["comments"][0]["votes"] == {"up": 0, "down": 0, "score": 0}

    # one's own comment: the server says no, and the widget says why
    mine = post(page, "My own comment.")
    mine.locator("button.kb-up").click()
    expect(mine.locator(".kb-alert")).to_have_text("You cannot vote on your own comment.")
    assert theirs["id"]


def test_sort_orders_differ_and_the_choice_is_remembered(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    old = api.post(thread, "Oldest, middling.", name="A")
    mid = api.post(thread, "Middle, loved.", name="B")
    new = api.post(thread, "Newest, disliked.", name="C")
    voters = [Api(servers) for _ in range(3)]
    for i, v in enumerate(voters):
        v.vote(mid["id"], 1)
        v.vote(new["id"], -1)
        if i == 0:
            v.vote(old["id"], 1)
    for v in voters:
        v.close()
    sec = open_widget(page, servers.page(thread))
    assert top_level_bodies(page) == ["Newest, disliked.", "Middle, loved.", "Oldest, middling."]
    sorts = sec.get_by_role("group", name="Sort comments")
    expect(sorts.get_by_role("button", name="Newest")).to_have_attribute("aria-pressed", "true")

    sorts.get_by_role("button", name="Oldest").click()
    expect(sec.locator("ol.kb-list > li").first).to_contain_text("Oldest, middling.")
    assert top_level_bodies(page) == ["Oldest, middling.", "Middle, loved.", "Newest, disliked."]
    sorts.get_by_role("button", name="Most Voted").click()
    expect(sec.locator("ol.kb-list > li").first).to_contain_text("Middle, loved.")
    assert top_level_bodies(page) == ["Middle, loved.", "Oldest, middling.", "Newest, disliked."]

    open_widget(page, servers.page(thread))
    sorts = discussion(page).get_by_role("group", name="Sort comments")
    expect(sorts.get_by_role("button", name="Most Voted")).to_have_attribute("aria-pressed", "true")
    assert top_level_bodies(page) == ["Middle, loved.", "Oldest, middling.", "Newest, disliked."]
    sorts.get_by_role("button", name="Best").click()
    expect(sorts.get_by_role("button", name="Best")).to_have_attribute("aria-pressed", "true")
    expect(discussion(page).locator("ol.kb-list > li").first).to_contain_text("Middle, loved.")


def test_view_all_comments_on_a_300_comment_thread(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    for i in range(300):
        api.post(thread, f"Comment number {i}.", name=f"Reader {i % 7}")
    page = tab.page
    sec = open_widget(page, servers.page(thread))
    expect(sec.locator(".kb-count")).to_have_text("300 Comments")
    top = sec.locator(":scope > ol.kb-list > li")
    expect(top).to_have_count(50)
    more = sec.get_by_role("button", name="View all comments")
    more.click()
    expect(top).to_have_count(300)
    expect(more).to_be_hidden()
    expect(live_region(page)).to_have_text("All comments shown")
    bodies = top_level_bodies(page)
    assert bodies == [f"Comment number {i}." for i in range(299, -1, -1)]
    expect(comment(page, "Comment number 249.")).to_be_focused()  # the first one loaded


def test_keyboard_only_posting_and_replying(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    api.post(thread, "A comment to answer.", name="Al")
    page = tab.page
    open_widget(page, servers.page(thread))
    keys = page.keyboard

    def tab_to(check: str, limit: int = 40) -> dict[str, object]:
        for _ in range(limit):
            keys.press("Tab")
            now = deep_active(page)
            if eval(check, {}, now):
                return now
        raise AssertionError(f"Tab never reached {check}")

    found = tab_to("tag == 'textarea'")
    assert found["placeholder"] == "Would love your thoughts, please comment."
    assert found["outline"] != "none" and found["outlineWidth"] >= 2  # focus is visible
    keys.type("Typed with the keyboard alone.")
    tab_to("name == 'name'")
    keys.type("Kay")
    button = tab_to("tag == 'button' and text == 'Post Comment'")
    assert button["outline"] != "none"
    keys.press("Enter")
    expect(comment(page, "Typed with the keyboard alone.")).to_be_visible()
    expect(live_region(page)).to_have_text("Comment posted.")

    tab_to("tag == 'button' and text == 'Reply'", limit=60)
    keys.press("Enter")
    assert deep_active(page)["tag"] == "textarea"
    keys.press("Escape")  # changed my mind: the form closes, the focus goes back
    expect(discussion(page).locator("form.kb-form-reply")).to_have_count(0)
    assert deep_active(page)["text"] == "Reply"
    keys.press("Enter")
    assert deep_active(page)["tag"] == "textarea"
    keys.type("A reply, Ctrl+Enter sends it.")
    keys.press("Control+Enter")
    reply = comment(page, "A reply, Ctrl+Enter sends it.")
    expect(reply).to_be_focused()
    bodies = {c["body_html"] for t in api.thread(thread)["comments"] for c in [t, *t["replies"]]}
    assert "<p>Typed with the keyboard alone.</p>" in bodies
    assert "<p>A reply, Ctrl+Enter sends it.</p>" in bodies


XSS = [
    "<script>window.__xss = 1; alert(1)</script>",
    '<img src=x onerror="window.__xss = 2; alert(2)">',
    "[click me](javascript:alert(3))",
    '<a href="javascript:alert(4)">click</a>',
    '<svg onload="alert(5)"></svg>',
    "![x](javascript:alert(6))",
]


def test_an_xss_payload_posted_through_the_form_never_runs(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    open_widget(page, servers.page(thread))
    form = main_form(page)
    payload = "\n\n".join(XSS)
    fill_form(form, payload, name='<img src=x onerror="alert(7)">')
    form.get_by_label("Website").fill('https://example.org/"><script>alert(8)</script>')
    form.get_by_role("button", name="Preview").click()
    # raw HTML is dropped (its text kept), a javascript: link stays text
    expect(form.locator(".kb-preview")).to_contain_text("[click me](javascript:alert(3))")
    form.get_by_role("button", name="Post Comment").click()
    expect(discussion(page).locator(".kb-count")).to_have_text("1 Comment")
    sec = open_widget(page, servers.page(thread))
    shown = sec.locator("article.kb-art")
    expect(shown.locator(".kb-body")).to_contain_text("[click me](javascript:alert(3))")
    expect(shown.locator(".kb-body")).not_to_contain_text("__xss")
    expect(shown.locator(".kb-name")).to_have_text('<img src=x onerror="alert(7)">')
    page.wait_for_timeout(300)  # let anything that would run, run
    assert page.evaluate("window.__xss") is None
    dangerous = page.evaluate(
        """() => [...document.querySelector('#kibitz-thread').shadowRoot.querySelectorAll('*')]
            .filter((el) => ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName) ||
              [...el.attributes].some((a) => a.name.startsWith('on') ||
                /^\\s*javascript:/i.test(a.value)))
            .map((el) => el.outerHTML)"""
    )
    assert dangerous == []
    link = shown.locator(".kb-name a")
    expect(link).to_have_attribute("rel", "nofollow ugc noopener")
    # the tab fixture fails the test if any dialog opened
