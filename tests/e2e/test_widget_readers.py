"""Who the reader is, in Chromium: the guest form as the site's settings shape it, what the
widget keeps in the host page's storage (never the e-mail address), and a browser that keeps
no cookies for kibitz, where the widget names the reader in a header instead.

The guest-form settings other than the defaults run on a kibitz of their own (started as the
shared one is); the defaults are checked on the shared one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import Api, Servers, Tab, TabFactory, launch
from tests.e2e.widget import comment, fill_form, main_form, open_widget, post

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def strict_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A site that wants an e-mail address, takes no website and no name."""
    settings = {
        "KIBITZ_REQUIRE_NAME": "false",
        "KIBITZ_REQUIRE_EMAIL": "true",
        "KIBITZ_ALLOW_WEBSITE": "false",
    }
    with launch(tmp_path_factory.mktemp("kibitz-guest-e2e"), **settings) as started:
        yield started


def stored_author(page: Page) -> Any:
    return page.evaluate("JSON.parse(localStorage.getItem('kibitz:author'))")


def star(form: Any, label: str) -> Any:
    """The visible "*" of a field's label."""
    return form.locator("label", has_text=label).locator("span[aria-hidden=true]")


def wait_for_me(page: Page) -> None:
    """/me has answered: the widget has the reader's token (and the site's guest form)."""
    page.wait_for_function("() => localStorage.getItem('kibitz:reader')")


def test_the_website_field_follows_the_site(
    make_tab: TabFactory, servers: Servers, strict_site: Servers, thread: str
) -> None:
    page = make_tab().page
    open_widget(page, servers.page(thread))
    wait_for_me(page)
    expect(main_form(page).get_by_label("Website")).to_be_visible()  # the default: websites welcome

    page = make_tab().page
    # a website remembered from a site that took them is not sent where none is taken
    page.add_init_script(
        "localStorage.setItem('kibitz:author', JSON.stringify({name: 'Ola', url: 'ola.example'}))"
    )
    open_widget(page, strict_site.page(thread))
    wait_for_me(page)
    form = main_form(page)
    expect(form.get_by_label("Website")).to_be_hidden()
    fill_form(form, "No website here.", name="Ola", email="ola@example.org")
    form.get_by_role("button", name="Post Comment").click()
    expect(comment(page, "No website here.")).to_be_visible()
    reader = Api(strict_site)
    [c] = reader.thread(thread)["comments"]
    reader.close()
    assert c["author"] == {"name": "Ola", "url": None}


def test_a_name_is_optional_where_the_site_says_so(
    make_tab: TabFactory, servers: Servers, strict_site: Servers, thread: str
) -> None:
    # the default: a name is required, and said to be before anything is sent
    page = make_tab().page
    open_widget(page, servers.page(thread))
    wait_for_me(page)
    form = main_form(page)
    name = form.get_by_label("Name")
    expect(name).to_have_attribute("aria-required", "true")
    expect(star(form, "Name")).to_be_visible()
    fill_form(form, "Who am I?", name="")
    form.get_by_role("button", name="Post Comment").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".kb-ferr", has_text="Please give your name.")).to_be_visible()

    page = make_tab().page
    open_widget(page, strict_site.page(thread))
    wait_for_me(page)
    form = main_form(page)
    name = form.get_by_label("Name")
    expect(name).to_have_attribute("aria-required", "false")
    expect(star(form, "Name")).to_be_hidden()
    fill_form(form, "Nameless but welcome.", name="", email="anon@example.org")
    form.get_by_role("button", name="Post Comment").click()
    posted = comment(page, "Nameless but welcome.")
    expect(posted.locator(".kb-name")).to_have_text("Guest")


def test_an_email_is_required_where_the_site_says_so(
    make_tab: TabFactory, servers: Servers, strict_site: Servers, thread: str
) -> None:
    page = make_tab().page
    open_widget(page, servers.page(thread))
    wait_for_me(page)
    form = main_form(page)
    expect(form.get_by_label("E-mail")).to_have_attribute("aria-required", "false")
    expect(star(form, "E-mail")).to_be_hidden()

    page = make_tab().page
    open_widget(page, strict_site.page(thread))
    wait_for_me(page)
    form = main_form(page)
    email = form.get_by_label("E-mail")
    expect(email).to_have_attribute("aria-required", "true")
    expect(star(form, "E-mail")).to_be_visible()
    fill_form(form, "Without an address.", name="Al")
    form.get_by_role("button", name="Post Comment").click()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    error_id = email.get_attribute("aria-describedby")
    expect(form.locator(f"#{error_id}")).to_have_text("Please give your e-mail address.")
    other = Api(strict_site)
    assert other.thread(thread)["comments"] == []
    # the same goes for a reply
    r = other.client.post(
        "/api/v1/comments",
        json={"thread": thread, "body": "Answer me.", "author_email": "al@example.org"},
    )
    assert r.status_code == 201, r.text
    other.close()
    open_widget(page, strict_site.page(thread))
    comment(page, "Answer me.").get_by_role("button", name="Reply").click()
    reply = page.locator(".kb-sec form.kb-form-reply")
    expect(reply.get_by_label("E-mail")).to_have_attribute("aria-required", "true")
    expect(reply.get_by_label("Website")).to_be_hidden()


def test_the_email_address_is_never_kept_in_the_host_page(
    make_tab: TabFactory, servers: Servers, thread: str
) -> None:
    page = make_tab().page
    # what an older widget left behind is cleared
    page.add_init_script(
        "if (!localStorage.getItem('kibitz:author')) localStorage.setItem('kibitz:author',"
        " JSON.stringify({name: 'Old', email: 'old@example.org'}))"
    )
    open_widget(page, servers.page(thread))
    form = main_form(page)
    expect(form.get_by_label("Name")).to_have_value("Old")
    expect(form.get_by_label("E-mail")).to_have_value("")
    assert stored_author(page) == {"name": "Old"}

    form.get_by_label("Website").fill("nadia.example")
    posted = post(page, "Remember my name, not my address.", email="nadia@example.org")
    expect(posted.locator(".kb-name a")).to_have_attribute("href", "https://nadia.example")
    assert stored_author(page) == {"name": "Nadia", "url": "nadia.example"}
    storage = page.evaluate("JSON.stringify(localStorage)")
    assert "nadia@example.org" not in storage
    posted.get_by_role("button", name="Reply").click()
    reply = page.locator(".kb-sec form.kb-form-reply")
    expect(reply.get_by_label("Name")).to_have_value("Nadia")
    expect(reply.get_by_label("E-mail")).to_have_value("")


def keep_no_cookies(page: Page, servers: Servers) -> None:
    """The browser drops every cookie kibitz sets (third-party cookies blocked). Route
    handlers run one at a time: each request goes out with no cookie in the jar."""

    def drop(route: Route) -> None:
        if "/api/v1/stream" in route.request.url:
            route.continue_()  # an event stream cannot be fetched whole; it sends no cookie
            return
        response = route.fetch()  # (which keeps what it sets in the context's jar ...)
        page.context.clear_cookies()  # (... so out with it)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
        route.fulfill(response=response, headers=headers)

    page.route(re.compile(re.escape(servers.api) + "/api/"), drop)


def test_a_browser_without_cookies_votes_once_and_keeps_its_highlight(
    tab: Tab, servers: Servers, api: Api, thread: str
) -> None:
    page = tab.page
    keep_no_cookies(page, servers)
    theirs = api.post(thread, "Vote on me.", name="Al")
    open_widget(page, servers.page(thread))
    wait_for_me(page)
    up = comment(page, "Vote on me.").locator("button.kb-up")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_text("1")

    open_widget(page, servers.page(thread))  # again: still the same reader
    up = comment(page, "Vote on me.").locator("button.kb-up")
    expect(up).to_have_attribute("aria-pressed", "true")
    up.click()  # so the second click takes the vote back, not a second vote
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(up).to_have_text("0")
    up.click()
    expect(up).to_have_text("1")
    [c] = [x for x in api.thread(thread)["comments"] if x["id"] == theirs["id"]]
    assert c["votes"] == {"up": 1, "down": 0, "score": 1}
    assert [k for k in page.context.cookies() if k["name"].startswith("kibitz")] == []
    assert servers.query("SELECT count(*) FROM votes WHERE comment_id = ?", theirs["id"]) == [(1,)]

    # and their own comment is theirs: no vote on it
    mine = post(page, "My own comment, cookies or not.")
    mine.locator("button.kb-up").click()
    expect(mine.locator(".kb-alert")).to_have_text("You cannot vote on your own comment.")
    token = json.loads(page.evaluate("localStorage.getItem('kibitz:reader')"))
    assert token.count(".") == 1  # the signed id /me gave
