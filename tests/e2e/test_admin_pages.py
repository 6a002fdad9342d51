"""The dashboard's inline feedback and funding pages in a real browser: a question asked by
selecting a word in the article (the second of two alike), and the funding report checked
with axe-core in light and dark colours.

A kibitz of its own (``kibitz serve`` on a fresh SQLite file) with an admin made by
``kibitz admin create``, an article, and a campaign with gifts recorded by ``kibitz ledger
add``. Playwright's async API, in the test's own event loop (see tests/e2e/test_admin.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, WATCH_CSP, free_port

pytestmark = pytest.mark.browser
KIBITZ = str(Path(sys.executable).parent / "kibitz")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
EMAIL, PASSWORD = "editor@example.org", "a long and careful passphrase"
ARTICLE = "/2026/05/harbour-ferry"
STORY = f"""---
title: The Sunday ferry
date: 2026-05-02T09:00:00Z
path: {ARTICLE}
---
The harbour ferry will run on Sundays through the winter, the council said on Tuesday.

Residents asked for a later ferry on Saturdays too; the council will decide in March.
"""


class Site:
    def __init__(self, url: str, db: Path) -> None:
        self.url, self.db = url, db

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


def _kibitz(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([KIBITZ, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("kibitz-admin-pages-e2e")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    env.update(
        KIBITZ_DATABASE_URL=f"sqlite:///{tmp / 'kibitz.db'}", KIBITZ_PUBLIC_URL=url,
        KIBITZ_SECRET_KEY="e2e-admin-pages-secret-key-long-enough-0123", KIBITZ_LOG_LEVEL="warning",
        KIBITZ_SITE_NAME="SouthFront",
    )  # fmt: skip
    _kibitz(env, tmp, "migrate")
    _kibitz(env, tmp, "admin", "create", EMAIL, "--name", "Eda Editor", "--password-stdin",
            stdin=PASSWORD + "\n")  # fmt: skip
    (tmp / "ferry.md").write_text(STORY)
    _kibitz(env, tmp, "article", "add", str(tmp / "ferry.md"))
    last_year = datetime.now(UTC).year - 1
    _kibitz(env, tmp, "campaign", "create", "support", "--name", "Support SouthFront",
            "--goal", "5000", "--currency", "USD", "--start", f"{last_year}-01")  # fmt: skip
    for month, amount, who in ((1, "1660", "Ana"), (2, "2500", ""), (3, "5200", "Jo")):
        extra = ["--public-name", who] if who else []
        _kibitz(env, tmp, "ledger", "add", "support", "--amount", amount, "--date",
                f"{last_year}-{month:02d}-10", "--method", "bank_transfer", "--name",
                f"Donor {month}", "--email", f"donor{month}@example.org", *extra)  # fmt: skip
    _kibitz(env, tmp, "ledger", "add", "support", "--kind", "refund", "--amount", "200",
            "--reverses", "1", "--date", f"{last_year}-04-02")  # fmt: skip
    log = tmp / "kibitz.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([KIBITZ, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
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
        yield Site(url, tmp / "kibitz.db")
    finally:
        proc.terminate()
        proc.wait(15)


async def logged_in(browser: Browser, site: Site, **options: Any) -> tuple[Any, Page, list[str]]:
    context = await browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900},
                                        **options)  # fmt: skip
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{site.url}/admin/login")
    await page.fill("#email", EMAIL)
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('Log in')")
    await expect(page.locator(".tabs a[aria-current]")).to_contain_text("Pending")
    return context, page, errors


async def with_browser(work: Any, site: Site) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await work(browser, site)
        finally:
            await browser.close()


async def test_a_question_asked_by_selecting_a_word_in_the_article(site: Site) -> None:
    await with_browser(ask_by_selecting, site)


async def ask_by_selecting(browser: Browser, site: Site) -> None:
    context, page, errors = await logged_in(browser, site)
    try:
        await page.get_by_role("link", name="Inline feedback").click()
        await page.get_by_role("link", name="The Sunday ferry").click()
        article = page.locator("#article-text")
        await expect(article).to_contain_text("a later ferry on Saturdays")
        # the second "ferry" of the article, chosen with the mouse: a double click on it
        second = article.locator("p").nth(1)
        box = await second.evaluate(
            """p => { const node = p.firstChild, at = node.data.indexOf("ferry");
                      const r = document.createRange(); r.setStart(node, at);
                      r.setEnd(node, at + 5); const b = r.getBoundingClientRect();
                      return {x: b.x + b.width / 2, y: b.y + b.height / 2}; }"""
        )
        await page.mouse.dblclick(box["x"], box["y"])
        await expect(page.locator("#ask-exact")).to_have_value("ferry")
        await expect(page.locator("#ask-question")).to_be_focused()
        await page.keyboard.type("Which ferry would you take on Saturdays?")
        await page.keyboard.press("Enter")
        await expect(page.locator(".notice")).to_have_text("Question asked.")
        asked = page.locator(".passage", has_text="Which ferry would you take on Saturdays?")
        await expect(asked).to_be_visible()
        await expect(asked.locator("q")).to_have_text("ferry")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin-passages.png"), full_page=True)
        [(start, end, prefix)] = site.query(
            "SELECT pos_start, pos_end, prefix FROM passages WHERE kind = 'question'"
        )
        text = " ".join(STORY.split("---\n")[-1].split())
        second_at = text.index("ferry", text.index("ferry") + 1)
        assert (start, end) == (second_at, second_at + 5)  # not the first "ferry"
        assert prefix.endswith("asked for a later ")
        # readers get the question beside the passage, through the API
        r = httpx.get(f"{site.url}/api/v1/passages", params={"thread": ARTICLE})
        [question] = [p for p in r.json()["passages"] if p["kind"] == "question"]
        assert question["found"]["start"] == second_at and question["orphaned"] is False
        # closing it from the dashboard
        await asked.locator("summary").click()
        await asked.get_by_role("button", name="Close the question").click()
        await expect(page.locator(".notice")).to_have_text("Question closed: its answers stay.")
        violations = await page.evaluate("window.__kbViolations")
        assert violations == []
    finally:
        await context.close()
    assert errors == []


async def axe(page: Page) -> list[dict[str, Any]]:
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result: dict[str, Any] = await page.evaluate(
        """async () => await axe.run(document, {
              runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [{"id": v["id"], "nodes": [n["html"][:200] for n in v["nodes"]]}
            for v in result["violations"]]  # fmt: skip


async def test_the_funding_report_page_passes_axe(site: Site) -> None:
    assert AXE.is_file(), "axe-core is missing: run `make setup` (npm ci)"
    await with_browser(report_with_axe, site)


async def report_with_axe(browser: Browser, site: Site) -> None:
    for scheme in ("light", "dark"):
        context, page, errors = await logged_in(browser, site, color_scheme=scheme)
        try:
            await page.get_by_role("link", name="Funding").click()
            await page.get_by_role("link", name="Report").click()
            await expect(page.locator("h1")).to_have_text("Report: Support SouthFront")
            chart = page.get_by_role("img", name="Support SouthFront: net per month")
            await expect(chart).to_be_visible()
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            table = page.locator("table").first
            await expect(table).to_contain_text("1,460.00 $")  # January: 1,660 less a 200 refund
            await expect(table).to_contain_text("5,200.00 $")
            await expect(page.locator("#donors + table")).to_contain_text("donor3@example.org")
            found = await axe(page)
            assert found == [], json.dumps(found, indent=1)
            if scheme == "light":
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "admin-funding-report.png"),
                                      full_page=True)  # fmt: skip
            assert await page.evaluate("window.__kbViolations") == []
        finally:
            await context.close()
        assert errors == []


async def test_an_import_uploaded_run_dry_then_for_real(site: Site) -> None:
    await with_browser(import_in_the_browser, site)


async def import_in_the_browser(browser: Browser, site: Site) -> None:
    context, page, errors = await logged_in(browser, site)
    try:
        await page.get_by_role("link", name="Imports").click()
        await page.select_option("#f-format", "disqus")
        await page.set_input_files("#f-file", str(ROOT / "tests" / "data" / "disqus.xml"))
        await expect(page.get_by_label("Dry run: read and report, write nothing")).to_be_checked()
        await page.get_by_role("button", name="Upload and import").click()
        # the page follows the job (static/admin-import.js) and shows its report when done
        await expect(page.get_by_role("heading", name="What it would do (nothing was written)")
                     ).to_be_visible(timeout=30_000)  # fmt: skip
        await expect(page.locator("main")).to_contain_text("8 would be imported")
        assert site.query("SELECT count(*) FROM comments") == [(0,)]
        await page.get_by_role("button", name="Import it for real").click()
        await expect(page.get_by_role("heading", name="What was imported")).to_be_visible(
            timeout=30_000
        )
        await expect(page.locator("main")).to_contain_text("8 imported")
        assert site.query("SELECT count(*) FROM comments") == [(8,)]
        assert await page.evaluate("window.__kbViolations") == []
    finally:
        await context.close()
    assert errors == []
