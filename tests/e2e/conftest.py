"""Browser tests: a real ``kibitz serve``, host pages on other origins, Debian's Chromium.

Per test worker (session scope): one kibitz process on a fresh SQLite file (with the
reference article, as `make run` has it), one host-page server on an allowed origin and one
on an origin kibitz does not allow. Per test module: one Chromium, because Playwright's sync
API holds an event loop while it runs, and the async tests that the same worker runs next
need none to be running. Each test gets a fresh browser context (its own cookies and
localStorage) and its own thread key. A missing browser fails the tests; it never skips them
(``make test`` installs Chromium).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.conftest import NO_MODERATION_ENV

# two workers share two cores with a kibitz server each: give the page time, not flakiness
expect.set_options(timeout=10_000)
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HIGH_LIMITS = (
    ",".join(
        f"{action}.{who}=100000/60"
        for action in ("comment", "edit", "vote", "preview", "subscribe")
        for who in ("voter", "ip")
    )
    + ",subscribe.email=100000/60"
)
# a comment with this word waits for a moderator
HOLD_WORD = "kibitzhold"
REFERENCE = "/2021/06/russia-is-strengthening-bases-in-kyrgyzstan-tajikistan"
# an article of kibitz's own, older than the reference one (which stays on the front page),
# for the tests that post to an article page
PLAIN_ARTICLE = "/2020/01/harbour-budget"
PLAIN_MD = f"""---
title: "The harbour budget"
date: 2020-01-15
path: {PLAIN_ARTICLE}
summary: "The council met to discuss the harbour budget."
---
The council met on Tuesday to discuss the new budget for the harbour district.
"""
LOREM = (
    "The council met on Tuesday to discuss the new budget for the harbour district. "
    "Residents asked why the ferry timetable had changed without notice, and the mayor "
    "promised an answer by the end of the month. Local businesses welcomed the decision "
    "to keep the market open on Sundays through the winter."
)
HOST_CSS = """
body { margin: 0; font: 18px/1.6 Georgia, "Times New Roman", serif; color: #222; background: #fff; }
main { max-width: 44rem; margin: 0 auto; padding: 1rem; }
h1 { font: 700 2rem/1.2 system-ui, sans-serif; }
/* hostile host rules that must not reach into the widget */
button, textarea, li { background: hotpink !important; text-transform: uppercase; }
.kb-sec, .kb-form { display: none !important; }
@media (prefers-color-scheme: dark) { .dark-ok { color: #e8e8e8; background: #121212; } }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Servers:
    api: str  # the kibitz origin
    host: str  # an allowed host-page origin
    other: str  # a host-page origin kibitz does not allow
    log: Path
    db: Path  # kibitz's SQLite file, read by tests to check what really landed
    env: dict[str, str] = field(default_factory=dict)  # the server's, for the CLI

    def kibitz(self, *args: str, stdin: str | None = None) -> str:
        """Run the kibitz CLI on the server's database (as its publisher would); its output."""
        done = subprocess.run(
            [str(Path(sys.executable).parent / "kibitz"), *args],
            cwd=self.db.parent, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from kibitz's database, read-only (the server keeps writing meanwhile)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def subscriptions(self, email: str) -> list[tuple[str, str, int | None]]:
        """(kind, thread key, comment id) of every subscription of the address."""
        rows = self.query(
            "SELECT s.kind, t.key, s.comment_id FROM subscriptions s"
            " JOIN subscribers r ON r.id = s.subscriber_id JOIN threads t ON t.id = s.thread_id"
            " WHERE r.email_key = ? ORDER BY s.id",
            email.lower(),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def page(
        self,
        thread: str,
        *,
        origin: str | None = None,
        csp: bool = False,
        long: bool = False,
        delay: int | None = None,
        dark: bool = False,
        bubble: str | None = None,
        article: str | None = None,
        body: str | None = None,
        campaign: str | None = None,
        discussion: str | None = None,
        poll: int | None = None,
    ) -> str:
        """A host page; ``article`` sets data-kibitz-article, ``body`` replaces its text
        (paragraphs separated by blank lines); ``campaign``, ``discussion`` and ``poll`` set
        data-kibitz-campaign, -discussion and -poll."""
        query: dict[str, Any] = {"thread": thread}
        if csp:
            query["csp"] = 1
        if long:
            query["long"] = 1
        if delay is not None:
            query["delay"] = delay
        if dark:
            query["dark"] = 1
        if bubble is not None:
            query["bubble"] = bubble
        if article is not None:
            query["article"] = article
        if body is not None:
            query["body"] = body
        for name, value in (("campaign", campaign), ("discussion", discussion), ("poll", poll)):
            if value is not None:
                query[name] = value
        return f"{origin or self.host}/article?{urlencode(query)}"

    def list_page(self, threads: list[str]) -> str:
        return f"{self.host}/list?{urlencode({'threads': ','.join(threads)})}"


def _article(api: str, q: dict[str, str]) -> tuple[str, dict[str, str]]:
    thread = q.get("thread", "/e2e/default")
    strict = q.get("csp") == "1"
    paragraphs = 14 if q.get("long") == "1" else 1
    attrs = f'data-kibitz-thread="{escape(thread)}" data-kibitz-title="Harbour news"'
    if "delay" in q:
        attrs += f' data-kibitz-bubble-delay="{escape(q["delay"])}"'
    if "bubble" in q:
        attrs += f' data-kibitz-bubble="{escape(q["bubble"])}"'
    if "article" in q:
        attrs += f' data-kibitz-article="{escape(q["article"])}"'
    for name in ("campaign", "discussion", "poll"):
        if name in q:
            attrs += f' data-kibitz-{name}="{escape(q[name])}"'
    text = [LOREM] * paragraphs
    if "body" in q:
        text = [escape(p) for p in q["body"].split("\n\n")]
    style = "" if strict else f"<style>{HOST_CSS}</style>"
    meta = '<meta name="color-scheme" content="light dark">' if q.get("dark") == "1" else ""
    body_class = ' class="dark-ok"' if q.get("dark") == "1" else ""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{meta}
<title>Harbour news</title>{style}</head>
<body{body_class}><main><article><h1>The harbour budget</h1>
{"".join(f"<p>{p}</p>" for p in text)}
</article>
<div id="kibitz-thread"></div>
<script src="{api}/embed.js" {attrs} async></script>
</main></body></html>"""
    headers = {}
    if strict:
        headers["Content-Security-Policy"] = (
            f"script-src {api}; style-src {api}; connect-src {api}; default-src 'none'"
        )
    return html, headers


def _list(api: str, q: dict[str, str]) -> tuple[str, dict[str, str]]:
    items = "".join(
        f'<li><a href="#">{escape(t)}</a> <span data-kibitz-count="{escape(t)}">…</span></li>'
        for t in q.get("threads", "").split(",")
    )
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>List</title></head>
<body><main><ul>{items}</ul><script src="{api}/count.js" async></script></main></body></html>"""
    return html, {"Content-Security-Policy": f"script-src {api}; connect-src {api}"}


def _host_server(api: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            pages = {"/article": _article, "/list": _list}
            if url.path not in pages:
                self.send_error(404)
                return
            html, headers = pages[url.path](api, q)
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with launch(tmp_path_factory.mktemp("kibitz-e2e")) as started:
        yield started


@contextmanager
def launch(tmp: Path, **settings: str) -> Iterator[Servers]:
    """A kibitz with the reference data (``KIBITZ_*`` settings added or changed) and its two
    host-page servers, for as long as the block runs."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    allowed = _host_server(api)
    other = _host_server(api)
    host = f"http://127.0.0.1:{allowed.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    db = tmp / "kibitz.db"
    env.update(
        KIBITZ_DATABASE_URL=f"sqlite:///{db}",
        KIBITZ_PUBLIC_URL=api,
        KIBITZ_ALLOWED_ORIGINS=host,
        KIBITZ_RATE_LIMITS=HIGH_LIMITS,
        KIBITZ_SECRET_KEY="e2e-secret-key-that-is-long-enough-0123456789",
        KIBITZ_LOG_LEVEL="warning",
        KIBITZ_SITE_NAME="SouthFront",
        KIBITZ_SUPPORT_URL="https://southfront.example/support/",
        # the widget's tests post freely; tests/e2e/test_admin.py runs its own moderated server
        **NO_MODERATION_ENV,
        # ... except with this word, which holds a comment for a moderator
        KIBITZ_MODERATION_BLOCK_WORDS=HOLD_WORD,
    )
    env.update(settings)
    log = tmp / "kibitz.log"
    kibitz = Path(sys.executable).parent / "kibitz"
    (tmp / "plain.md").write_text(PLAIN_MD)
    # what `make run` does: the reference article and its discussion, then one more article
    for command in (["demo"], ["article", "add", str(tmp / "plain.md")]):
        subprocess.run([str(kibitz), *command], cwd=tmp, env=env, check=True, capture_output=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(kibitz), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60  # a busy machine starts it slowly
        while True:
            if proc.poll() is not None:
                pytest.fail(f"kibitz serve exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{api}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"kibitz serve did not answer /healthz:\n{log.read_text()}")
            time.sleep(0.1)
        yield Servers(
            api=api,
            host=host,
            other=f"http://127.0.0.1:{other.server_address[1]}",
            log=log,
            db=db,
            env=env,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for server in (allowed, other):
            server.shutdown()
            server.server_close()


class Api:
    """Talks to kibitz directly, as another reader would (its own cookies)."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.client = httpx.Client(base_url=servers.api, timeout=10)

    def post(
        self, thread: str, body: str, name: str = "Ada", parent: int | None = None
    ) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/comments",
            json={
                "thread": thread,
                "body": body,
                "author_name": name,
                "parent_id": parent,
                "thread_url": self.servers.page(thread),
            },
        )
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    def vote(self, comment_id: int, value: int) -> None:
        if "kibitz_voter" not in self.client.cookies:  # as the widget does: /me names them
            named = self.client.get("/api/v1/me", params={"thread": "/e2e/me"})
            assert named.status_code == 200, named.text
        r = self.client.post(f"/api/v1/comments/{comment_id}/vote", json={"value": value})
        assert r.status_code == 200, r.text

    def thread(self, thread: str, **params: Any) -> dict[str, Any]:
        r = self.client.get("/api/v1/comments", params={"thread": thread, **params})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def api(servers: Servers) -> Iterator[Api]:
    a = Api(servers)
    yield a
    a.close()


@pytest.fixture
def thread() -> str:
    return f"/e2e/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


# records every Content-Security-Policy violation the page sees, before any page script runs
WATCH_CSP = """
window.__kbViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__kbViolations.push(e.violatedDirective + " " + e.blockedURI);
}, true);
"""


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def csp_problems(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__kbViolations")
        found += [m.text for m in self.console if "Content Security Policy" in m.text]
        return found


TabFactory = Callable[..., Tab]


@pytest.fixture
def make_tab(browser: Browser) -> Iterator[TabFactory]:
    """Pages in fresh contexts (``make_tab(viewport=..., java_script_enabled=False)``); any
    uncaught script error or dialog in any of them fails the test."""
    made: list[tuple[Any, Tab]] = []

    def make(**options: Any) -> Tab:
        settings: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}
        settings.update(options)
        context = browser.new_context(**settings)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        page.set_default_timeout(10_000)
        t = Tab(page)
        page.on("pageerror", lambda exc: t.errors.append(str(exc)))
        page.on("console", lambda message: t.console.append(message))

        def on_dialog(dialog: Any) -> None:
            t.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        made.append((context, t))
        return t

    yield make
    for context, _ in made:
        context.close()
    for _, t in made:
        assert not t.errors, f"uncaught errors in the page: {t.errors}"
        assert not t.dialogs, f"dialogs opened: {t.dialogs}"


@pytest.fixture
def tab(make_tab: TabFactory) -> Tab:
    """A page in a fresh desktop context."""
    return make_tab()
