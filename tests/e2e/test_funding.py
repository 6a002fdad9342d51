"""The funding bar and the donation page in a real browser: Debian's Chromium against a real
``kibitz serve`` (the reference data loaded, Stripe's API answered by the loopback stand-in),
checked with axe-core, with reduced motion, by keyboard.

This module runs its own kibitz (the shared one in conftest.py has no campaigns and no Stripe
settings), on the same harness: the session's Chromium and the Tab fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import stripe_events as se
from tests.e2e.conftest import ROOT, Tab, free_port
from tests.stripe_standin import StandIn, start

pytestmark = pytest.mark.browser

REF = "/2021/06/russia-is-strengthening-bases-in-kyrgyzstan-tajikistan"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
KIBITZ = str(Path(sys.executable).with_name("kibitz"))


class Site:
    def __init__(self, url: str, stripe: StandIn) -> None:
        self.url = url
        self.stripe = stripe


def _kibitz(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([KIBITZ, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("kibitz-funding-e2e")
    stripe, stripe_server = start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    env.update(
        KIBITZ_DATABASE_URL=f"sqlite:///{tmp / 'kibitz.db'}", KIBITZ_PUBLIC_URL=url,
        KIBITZ_SITE_NAME="SouthFront", KIBITZ_SECRET_KEY="e2e-secret-key-that-is-long-enough-01",
        KIBITZ_LOG_LEVEL="warning", KIBITZ_FUNDING_CAMPAIGN="southfront",
        KIBITZ_STRIPE_SECRET_KEY=se.KEY, KIBITZ_STRIPE_WEBHOOK_SECRET=se.SECRET,
        KIBITZ_STRIPE_API_BASE=stripe.url,
    )  # fmt: skip
    _kibitz(env, "demo")
    this_month = datetime.now(UTC).strftime("%Y-%m")
    _kibitz(env, "campaign", "create", "monthly", "--name", "Keep SouthFront going",
            "--goal", "1000", "--currency", "USD", "--start", this_month,
            "--suggested", "5,10,25")  # fmt: skip
    _kibitz(env, "ledger", "add", "monthly", "--amount", "1250", "--method", "bank_transfer",
            "--public-name", "A generous reader")  # fmt: skip
    log = tmp / "kibitz.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([KIBITZ, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"kibitz serve exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"kibitz serve did not answer:\n{log.read_text()}")
            time.sleep(0.1)
        yield Site(url, stripe)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stripe_server.shutdown()
        stripe_server.server_close()


def axe(page: Page, selector: str | None = None) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations on the page (or one part of it)."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    context = json.dumps(selector) if selector else "document"
    result: dict[str, Any] = page.evaluate(
        f"""async () => await axe.run({context}, {{
              runOnly: {{type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}}})"""
    )
    return [{"id": v["id"], "nodes": [n["html"] for n in v["nodes"]]} for v in result["violations"]]


def test_the_reference_bar_reads_as_on_the_reference_page(site: Site, tab: Tab) -> None:
    page = tab.page
    page.emulate_media(reduced_motion="reduce")
    page.goto(site.url + REF)
    bar = page.locator(".kb-funding")
    shown = bar.inner_text()
    for text in ("0 $", "2,500 $", "5,000 $", "1,660 $", "JUNE 2021"):
        assert text in shown, shown
    assert "1,660 $ raised of 5,000 $ goal, June 2021" in shown  # the visible sentence
    box, title = bar.bounding_box(), page.locator(".story-title").bounding_box()
    assert box and title and box["y"] + box["height"] <= title["y"]  # above the title
    fill = page.locator(".kb-funding-fill").bounding_box()
    track = page.locator(".kb-funding-track").bounding_box()
    assert fill and track and abs(fill["width"] / track["width"] - 0.332) < 0.01
    assert tab.csp_problems() == []


def test_screen_readers_get_a_progressbar_and_no_tick_labels(site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.url + REF)
    meter = page.get_by_role("progressbar", name="Support SouthFront, June 2021")
    expect(meter).to_have_attribute("aria-valuenow", "1660")
    expect(meter).to_have_attribute("aria-valuemin", "0")
    expect(meter).to_have_attribute("aria-valuemax", "5000")
    expect(meter).to_have_attribute("aria-valuetext", "1,660 $ raised of 5,000 $ goal, June 2021")
    hidden = page.evaluate(
        """() => [...document.querySelectorAll('.kb-funding-tick')]
                  .every(t => t.closest('[aria-hidden="true"]') !== null)"""
    )
    assert hidden
    tree = page.locator(".kb-funding").aria_snapshot()
    assert "2,500 $" not in tree.replace("goal, June 2021", "")  # no tick is read out
    assert "1,660 $ raised of 5,000 $ goal, June 2021" in tree


def test_reduced_motion_stops_the_bar_from_growing(site: Site, browser: Browser) -> None:
    for motion, animation in (("no-preference", "kb-funding-grow"), ("reduce", "none")):
        context = browser.new_context(reduced_motion=motion)
        page = context.new_page()
        page.goto(site.url + REF)
        name = page.locator(".kb-funding-fill").evaluate("e => getComputedStyle(e).animationName")
        assert name == animation
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", [REF, "/funding/southfront", "/donate?campaign=monthly"])
def test_axe_finds_nothing_on_the_funding_pages(
    site: Site, browser: Browser, path: str, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme, reduced_motion="reduce")  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(site.url + path)
    selector = ".kb-funding" if path == REF else None
    assert axe(page, selector) == []
    context.close()


def test_an_exceeded_goal_is_said_not_only_shown_in_colour(site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.url + "/funding/monthly")
    figures = page.locator(".kb-funding-figures").inner_text()
    assert "GOAL EXCEEDED" in figures.upper()
    sentence = page.locator(".kb-funding-sentence").inner_text()
    assert "1,250 $ raised of 1,000 $ goal" in sentence and "goal exceeded by 250 $" in sentence
    meter = page.get_by_role("progressbar")
    expect(meter).to_have_attribute("aria-valuenow", "1250")
    expect(meter).to_have_attribute("aria-valuemax", "1250")
    supporters = page.locator(".supporters").inner_text()
    assert "A generous reader" in supporters


def test_the_svg_image_renders_for_newsletters(site: Site, tab: Tab) -> None:
    page = tab.page
    page.set_content(f'<img alt="" src="{site.url}/funding/southfront.svg" width="640">')
    page.wait_for_function("document.images[0].complete && document.images[0].naturalWidth")
    assert page.evaluate("document.images[0].naturalWidth") == 640
    page.goto(site.url + "/funding/southfront.svg")
    texts = page.locator("text").all_text_contents()
    assert texts == ["0 $", "2,500 $", "5,000 $", "1,660 $ raised", "JUNE 2021"]


def test_a_reader_gives_by_keyboard_and_lands_on_stripe(site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.url + "/donate?campaign=monthly")
    once = page.get_by_role("button", name="Donate 10 $ once")
    monthly = page.get_by_role("button", name="Donate 10 $ monthly")
    expect(once).to_be_visible()
    expect(monthly).to_be_visible()
    page.get_by_label("25 $").focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Donate 25 $ monthly")).to_be_visible()
    page.get_by_label("Other amount ($)").fill("12.50")
    expect(page.get_by_role("button", name="Donate 12.50 $ monthly")).to_be_visible()
    page.get_by_label("Public name").fill("Ada")
    page.get_by_role("button", name="Donate 12.50 $ monthly").focus()
    # the browser follows the redirect to Stripe's hosted page (unreachable from here)
    with page.expect_request(lambda r: r.url.startswith("https://checkout.stripe.com/")) as went:
        page.keyboard.press("Enter")
    assert went.value.url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    sent = site.stripe.calls("/v1/checkout/sessions")[-1]
    assert sent["mode"] == "subscription"
    assert sent["line_items"]["0"]["price_data"]["unit_amount"] == "1250"
    assert sent["metadata"]["kibitz_public_name"] == "Ada"


def test_a_refused_amount_is_announced_next_to_the_field(site: Site, tab: Tab) -> None:
    page = tab.page
    page.goto(site.url + "/donate?campaign=monthly")
    page.get_by_label("Other amount ($)").fill("0.10")
    page.get_by_role("button", name="Donate 0.10 $ once").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Give between 2.00 $ and 10,000.00 $.")
    field = page.get_by_label("Other amount ($)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("0.10")
