"""Live updates in the widget, in Chromium: new comments wait behind an "N new comments"
banner (and a badge on the bubble) without moving what the reader is looking at; votes,
edits and deletions change in place; a hidden tab lets go of its stream and resumes where it
left off; without EventSource the widget polls with ETag/304.

A kibitz of its own (the shared one's reference thread must keep its ten comments), started
the same way as the shared one. (On the shared one the reference thread is idle, years old:
it has no stream, and the widget polls instead.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REFERENCE, Api, Servers, TabFactory, launch
from tests.e2e.widget import comment, discussion, open_widget, post

pytestmark = pytest.mark.browser

# every EventSource the page opens, to see when the widget opens and closes its stream
WATCH_STREAMS = """
window.__streams = [];
if (window.EventSource) {
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, options) { super(url, options); window.__streams.push(this); }
  };
}
"""
NO_EVENTSOURCE = "delete window.EventSource;"
# a tab the reader switched away from, as the page sees it
HIDE = """(hidden) => {
  Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
  Object.defineProperty(document, "visibilityState",
                        {value: hidden ? "hidden" : "visible", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    # the reference discussion is from 2021: keep its stream open all the same
    idle = str(20 * 365 * 86400)
    with launch(
        tmp_path_factory.mktemp("kibitz-live-e2e"), KIBITZ_LIVE_IDLE_SECONDS=idle
    ) as started:
        yield started


@pytest.fixture
def reader(site: Servers) -> Iterator[Api]:
    """Another reader, who writes through the API."""
    other = Api(site)
    yield other
    other.close()


@pytest.fixture
def voter(site: Servers) -> Iterator[Api]:
    """A third reader, who votes."""
    other = Api(site)
    yield other
    other.close()


def streams(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "() => window.__streams.map(s => ({url: s.url, state: s.readyState}))"
    )
    return found


def banner(page: Page) -> Any:
    return discussion(page).locator("button.kb-newc")


def wait_for_stream(page: Page) -> None:
    page.wait_for_function("() => window.__streams.at(-1)?.readyState === 1")


def test_a_comment_posted_in_one_page_is_a_banner_in_the_other(
    make_tab: TabFactory, site: Servers
) -> None:
    writer = make_tab().page
    watcher = make_tab(viewport={"width": 1280, "height": 700})
    page = watcher.page
    page.add_init_script(WATCH_STREAMS)
    open_widget(writer, site.api + REFERENCE)
    open_widget(page, site.api + REFERENCE)
    wait_for_stream(page)
    # the watcher reads the middle of the discussion: what they see must not move
    reading = comment(page, "Central Asia is also a dangerous flash-point")
    reading.scroll_into_view_if_needed()
    page.mouse.wheel(0, 150)
    page.wait_for_timeout(300)
    before = reading.bounding_box()
    assert before and 0 < before["y"] < 700

    post(writer, "Live from the other tab: the ferry is late again.")
    expect(banner(page)).to_have_text("1 new comment")
    expect(banner(page)).to_be_in_viewport()  # it stays in sight, sticky at the top
    expect(comment(page, "Live from the other tab")).to_have_count(0)  # not yet: on demand
    after = reading.bounding_box()
    assert after and abs(after["y"] - before["y"]) < 1, (before, after)
    expect(discussion(page).locator(".kb-count")).to_have_text("11 Comments")
    fab = page.locator(".kb-bubble .kb-fab")
    expect(fab.locator(".kb-fab-new")).to_have_text("+1")
    expect(fab).to_have_attribute("aria-label", "11 comments, 1 new. Go to the comment form")
    # the writer's own comment is on their page already: no banner there
    expect(banner(writer)).to_be_hidden()

    banner(page).click()
    shown = comment(page, "Live from the other tab")
    expect(shown).to_be_visible()
    expect(shown).to_be_focused()
    expect(banner(page)).to_be_hidden()
    expect(fab.locator(".kb-fab-new")).to_be_hidden()
    expect(discussion(page).locator("article.kb-art")).to_have_count(11)


def test_votes_edits_and_deletions_change_in_place(
    make_tab: TabFactory, site: Servers, reader: Api, voter: Api, thread: str
) -> None:
    first = reader.post(thread, "The market stays open on Sundays.")
    second = reader.post(thread, "A reply that will be deleted.", parent=first["id"])
    page = make_tab().page
    page.add_init_script(WATCH_STREAMS)
    open_widget(page, site.page(thread, csp=True))  # another origin, a strict CSP
    wait_for_stream(page)
    market = comment(page, "The market stays open")
    voter.vote(first["id"], 1)
    expect(market.locator("button.kb-up")).to_have_text("1")
    expect(market.locator("button.kb-up")).to_have_attribute("aria-label", "Vote up, 1 vote")

    r = reader.client.patch(
        f"/api/v1/comments/{first['id']}",
        json={"body": "The market stays open on Sundays, all winter."},
        headers={"X-Kibitz-Edit-Token": first["edit_token"]},
    )
    assert r.status_code == 200, r.text
    expect(comment(page, "all winter")).to_be_visible()
    expect(comment(page, "all winter").locator(".kb-edited")).to_be_visible()
    expect(comment(page, "all winter").locator("button.kb-up")).to_have_text("1")

    r = reader.client.delete(
        f"/api/v1/comments/{second['id']}",
        headers={"X-Kibitz-Edit-Token": second["edit_token"]},
    )
    assert r.status_code == 200, r.text
    expect(comment(page, "will be deleted")).to_have_count(0)
    expect(discussion(page).locator(".kb-count")).to_have_text("1 Comment")
    expect(banner(page)).to_be_hidden()


def test_a_hidden_tab_lets_go_of_its_stream_and_misses_nothing(
    make_tab: TabFactory, site: Servers, reader: Api, voter: Api, thread: str
) -> None:
    first = reader.post(thread, "Before the reader looked away.")
    page = make_tab().page
    page.add_init_script(WATCH_STREAMS)
    open_widget(page, site.page(thread))
    wait_for_stream(page)
    page.evaluate(HIDE, True)
    page.wait_for_function("() => window.__streams.at(-1).readyState === 2")  # closed
    reader.post(thread, "Posted while the tab was hidden.")
    reader.post(thread, "And another one.")
    voter.vote(first["id"], -1)
    page.wait_for_timeout(1500)
    expect(banner(page)).to_be_hidden()  # nothing arrives while hidden
    assert len(streams(page)) == 1

    page.evaluate(HIDE, False)
    expect(banner(page)).to_have_text("2 new comments")
    expect(comment(page, "Before the reader").locator("button.kb-down")).to_have_text("1")
    opened = streams(page)
    assert len(opened) == 2 and opened[0]["state"] == 2
    assert "last_event_id=" in opened[1]["url"] and not opened[1]["url"].endswith("=0")
    banner(page).click()
    expect(comment(page, "while the tab was hidden")).to_be_visible()
    expect(comment(page, "And another one")).to_be_visible()


def test_without_eventsource_the_widget_polls_with_etags(
    make_tab: TabFactory, site: Servers, reader: Api, voter: Api, thread: str
) -> None:
    first = reader.post(thread, "Polling is old but it works.")
    page = make_tab().page
    page.add_init_script(NO_EVENTSOURCE)
    polls: list[int] = []
    page.on(
        "response",
        lambda r: (
            "/api/v1/comments?" in r.url and "sort=newest" in r.url and polls.append(r.status)
        ),
    )
    open_widget(page, site.page(thread, poll=1))
    page.wait_for_timeout(6000)
    assert 304 in polls, polls  # nothing changed: the server said so in a few bytes
    reader.post(thread, "A comment found by polling.")
    voter.vote(first["id"], 1)
    expect(banner(page)).to_have_text("1 new comment", timeout=15_000)
    expect(comment(page, "Polling is old").locator("button.kb-up")).to_have_text("1")
    banner(page).click()
    expect(comment(page, "found by polling")).to_be_focused()


# -- a thread with no stream (idle), and a server with no room for one more

IDLE_SECONDS = 6


@pytest.fixture(scope="module")
def idle_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Threads go idle six seconds after their last comment."""
    with launch(
        tmp_path_factory.mktemp("kibitz-idle-e2e"), KIBITZ_LIVE_IDLE_SECONDS=str(IDLE_SECONDS)
    ) as started:
        yield started


@pytest.fixture(scope="module")
def crowded_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """One event stream per address."""
    with launch(
        tmp_path_factory.mktemp("kibitz-crowded-e2e"), KIBITZ_LIVE_STREAMS_PER_CLIENT="1"
    ) as started:
        yield started


def polls_of(page: Page) -> list[str]:
    """The thread reads the page makes from now on (its first load, then its polls)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: "/api/v1/comments?" in r.url and "sort=newest" in r.url and seen.append(r.url),
    )
    return seen


def settle(page: Page, until: Any, what: str) -> None:
    for _ in range(100):
        if until():
            return
        page.wait_for_timeout(100)
    pytest.fail(what)


def test_an_idle_thread_is_polled_slowly_until_a_new_comment_wakes_it(
    make_tab: TabFactory, idle_site: Servers
) -> None:
    thread = f"/e2e/{uuid.uuid4().hex[:12]}"
    other = Api(idle_site)
    other.post(thread, "Said a while ago.")
    time.sleep(IDLE_SECONDS + 0.5)  # the thread has gone idle: its stream answers 204
    page = make_tab().page
    page.clock.install()  # the page's time: five minutes pass in a moment
    page.add_init_script(WATCH_STREAMS)
    answers: list[int] = []
    page.on("response", lambda r: "/api/v1/stream?" in r.url and answers.append(r.status))
    polls = polls_of(page)
    open_widget(page, idle_site.page(thread))
    page.wait_for_function("() => window.__streams.length === 1")
    page.wait_for_function("() => window.__streams[0].readyState === 2")
    settle(page, lambda: len(polls) >= 2, "the widget never polled the idle thread")
    assert 204 in answers, answers
    asked = len(polls)
    page.clock.fast_forward("01:05")  # twice the usual polling interval and more
    page.wait_for_timeout(700)
    assert len(polls) == asked, "an idle thread is not polled every 30 seconds"
    assert len(streams(page)) == 1

    other.post(thread, "Waking the thread up.")  # the thread is live again
    page.clock.fast_forward("04:05")  # five minutes since the last poll
    expect(banner(page)).to_have_text("1 new comment")
    assert len(polls) == asked + 1
    # the poll found a new comment: the stream opens again, and events flow
    wait_for_stream(page)
    assert len(streams(page)) == 2
    other.post(thread, "Now by the stream.")
    expect(banner(page)).to_have_text("2 new comments")
    assert len(polls) == asked + 1
    other.close()


def test_a_full_server_is_asked_again_only_after_retry_after(
    make_tab: TabFactory, crowded_site: Servers
) -> None:
    thread = f"/e2e/{uuid.uuid4().hex[:12]}"
    other = Api(crowded_site)
    other.post(thread, "Busy in here.")
    url = f"{crowded_site.api}/api/v1/stream"
    page = make_tab().page
    page.clock.install()
    page.add_init_script(WATCH_STREAMS)
    answers: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            "/api/v1/stream?" in r.url and answers.append((r.status, r.headers.get("retry-after")))
        ),
    )
    polls = polls_of(page)
    with httpx.stream("GET", url, params={"thread": thread}, timeout=30) as held:
        assert held.status_code == 200  # the address's one stream
        open_widget(page, crowded_site.page(thread))
        page.wait_for_function("() => window.__streams[0]?.readyState === 2")
        settle(page, lambda: len(polls) >= 2, "the widget never fell back to polling")
        assert (429, "60") in answers, answers
        # meanwhile it polls, and a new comment is found, but no stream before 60 seconds
        other.post(thread, "Found by polling.")
        page.clock.fast_forward("00:31")
        expect(banner(page)).to_have_text("1 new comment")
        page.clock.fast_forward("00:20")
        page.wait_for_timeout(700)
        assert len(streams(page)) == 1
    page.wait_for_timeout(1500)  # the server lets go of the held stream
    page.clock.fast_forward("00:15")  # past Retry-After: a stream again
    wait_for_stream(page)
    assert len(streams(page)) == 2
    other.post(thread, "By the stream.")
    expect(banner(page)).to_have_text("2 new comments")
    other.close()
