"""The moderator's day in a real browser: log in, approve a held comment from the queue with
the keyboard, ban its author, and the banned reader's next post is refused, told why.

A kibitz of its own (``kibitz serve`` on a fresh SQLite file, pre-moderation of first-time
commenters as shipped), with its first admin made by ``kibitz admin create``. Playwright's
async API, in the test's own event loop: the sync API's loop would stay running in this test
worker and break the asynchronous tests that run after it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, free_port

pytestmark = pytest.mark.browser
KIBITZ = str(Path(sys.executable).parent / "kibitz")
EMAIL, PASSWORD = "editor@example.org", "a long and careful passphrase"
ARTICLE = "/2026/05/harbour-ferry"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("kibitz-admin-e2e")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    env.update(
        KIBITZ_DATABASE_URL=f"sqlite:///{tmp / 'kibitz.db'}",
        KIBITZ_PUBLIC_URL=url,
        KIBITZ_SECRET_KEY="e2e-admin-secret-key-that-is-long-enough-0123",
        KIBITZ_LOG_LEVEL="warning",
        KIBITZ_MODERATION_MIN_FILL_SECONDS="1",
    )
    subprocess.run([KIBITZ, "migrate"], cwd=tmp, env=env, check=True, capture_output=True)
    made = subprocess.run(
        [KIBITZ, "admin", "create", EMAIL, "--name", "Eda Editor", "--password-stdin"],
        cwd=tmp, env=env, input=PASSWORD + "\n", capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0 and "created admin" in made.stdout, made.stderr
    story = tmp / "ferry.md"
    story.write_text(
        f"---\ntitle: The Sunday ferry\ndate: 2026-05-02T09:00:00Z\npath: {ARTICLE}\n---\n"
        "The harbour ferry will run on Sundays through the winter.\n"
    )
    added = subprocess.run([KIBITZ, "article", "add", str(story)], cwd=tmp, env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert added.returncode == 0, added.stderr
    log = tmp / "kibitz.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [KIBITZ, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


async def post_as_reader(page: Page, body: str) -> None:
    """Write a comment in the page's own form (no JavaScript needed), taking a moment."""
    await page.fill("#kb-body", body)
    await page.fill("#kb-author_name", "Rex Reader")
    await asyncio.sleep(1.2)  # people take a while to write; bots that post at once are spam
    await page.click("button:has-text('Post Comment')")


async def test_log_in_approve_ban_and_the_banned_reader_is_refused(site: str) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await moderators_day(site, browser)
        finally:
            await browser.close()


async def moderators_day(site: str, browser: Any) -> None:
    thread = ARTICLE
    # the reader uses the page's own form, which works without JavaScript (the widget is
    # tested on its own); the moderator's dashboard uses its keyboard shortcuts
    reader_ctx = await browser.new_context(locale="en-GB", java_script_enabled=False)
    mod_ctx = await browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        reader = await reader_ctx.new_page()
        reader.on("pageerror", lambda e: errors.append(str(e)))
        await reader.goto(f"{site}{ARTICLE}")
        # the honeypot: off the screen, out of the tab order and of the accessibility tree
        await expect(reader.locator("#kb-homepage")).not_to_be_in_viewport()
        await expect(reader.locator(".kb-hp")).to_have_attribute("aria-hidden", "true")
        await post_as_reader(reader, "First time here: is the ferry running on Sunday?")
        await expect(reader.locator(".kb-notice")).to_contain_text("awaiting moderation")
        await expect(reader.locator(".kb-pending")).to_contain_text("ferry running")
        await expect(reader.locator(".kb-pending .kb-badge")).to_have_text("Awaiting moderation")

        mod = await mod_ctx.new_page()
        mod.on("pageerror", lambda e: errors.append(str(e)))
        await mod.goto(f"{site}/admin")
        await expect(mod).to_have_url(f"{site}/admin/login?next=%2Fadmin")
        await mod.fill("#email", EMAIL)
        await mod.fill("#password", "not the passphrase")
        await mod.click("button:has-text('Log in')")
        await expect(mod.locator(".error")).to_contain_text(
            "Wrong e-mail address, password or code"
        )
        await mod.fill("#email", EMAIL)
        await mod.fill("#password", PASSWORD)
        await mod.click("button:has-text('Log in')")
        await expect(mod.locator(".tabs a[aria-current]")).to_contain_text("Pending")
        item = mod.locator(".item", has_text="ferry running")
        await expect(item).to_be_visible()
        await expect(item.locator(".badge.reason")).to_have_text("first time")
        ARTIFACTS.mkdir(exist_ok=True)
        await mod.screenshot(path=str(ARTIFACTS / "admin-queue.png"), full_page=True)
        await mod.keyboard.press("j")  # the first comment of the queue
        await expect(item).to_have_class("item status-pending current")
        await mod.keyboard.press("a")  # approve it
        await expect(mod.locator(".notice")).to_have_text("1 comment approved.")
        await expect(mod.locator(".item", has_text="ferry running")).to_have_count(0)

        await reader.goto(f"{site}{ARTICLE}")
        await expect(reader.locator("#kb-count")).to_have_text("1 Comment")
        await expect(reader.locator(".kb-list .kb-body")).to_contain_text("ferry running")

        await mod.goto(f"{site}/admin/comments?queue=approved&thread={thread}")
        await mod.locator(".item", has_text="ferry running").get_by_text("Edit, ban…").click()
        await mod.fill("#reason", "e2e: testing the ban")
        await mod.fill("#days", "2")
        await mod.click("#ban button:has-text('Ban')")
        await expect(mod.locator(".notice")).to_contain_text("Banned")

        await reader.goto(f"{site}{ARTICLE}")
        await expect(reader.locator(".kb-banned")).to_contain_text(
            "You cannot post here: a moderator has blocked comments from you until"
        )
        await expect(reader.locator("#kb-body")).to_have_count(0)
        # and a post sent anyway, by the API with the reader's cookies, is refused and says why
        r = await reader_ctx.request.post(
            f"{site}/api/v1/comments",
            data={"thread": thread, "body": "Let me back in", "author_name": "Rex"},
        )
        assert r.status == 403 and (await r.json())["error"]["code"] == "banned"

        await mod.goto(f"{site}/admin/audit")
        await expect(mod.locator("tbody tr").first).to_contain_text("ban")
        await expect(mod.locator("tbody")).to_contain_text("approve")
        await expect(mod.locator("tbody")).to_contain_text("Eda Editor")
    finally:
        await reader_ctx.close()
        await mod_ctx.close()
    assert errors == []
