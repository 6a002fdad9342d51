"""The kibitz command, run as a publisher runs it: a real process on a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

KIBITZ = str(Path(sys.executable).with_name("kibitz"))


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``kibitz ARGS`` with only the given settings (nothing leaks in from the developer)."""
    environ = {"PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
               "KIBITZ_LOG_LEVEL": "warning", **env}  # fmt: skip
    return subprocess.run(
        [KIBITZ, *args], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )


def test_migrate_then_check(tmp_path: Path) -> None:
    unmigrated = run(tmp_path, "check")
    assert unmigrated.returncode == 1 and "run `kibitz migrate`" in unmigrated.stdout
    migrated = run(tmp_path, "migrate")
    assert migrated.returncode == 0 and "database at revision" in migrated.stdout
    checked = run(tmp_path, "check")
    assert checked.returncode == 0, checked.stderr
    assert "settings: ok" in checked.stdout and "database: ok" in checked.stdout


def test_migrate_and_check_on_postgresql(tmp_path: Path, fresh_postgres_url: str) -> None:
    url = fresh_postgres_url
    assert run(tmp_path, "check", KIBITZ_DATABASE_URL=url).returncode == 1
    assert run(tmp_path, "migrate", KIBITZ_DATABASE_URL=url).returncode == 0
    checked = run(tmp_path, "check", KIBITZ_DATABASE_URL=url)
    assert checked.returncode == 0 and "database: ok" in checked.stdout


def test_check_lists_every_bad_setting(tmp_path: Path) -> None:
    result = run(tmp_path, "check", KIBITZ_PORT="x", KIBITZ_WORKERS="0",
                 KIBITZ_PUBLIC_URL="nowhere")  # fmt: skip
    assert result.returncode == 2
    for name in ("KIBITZ_PORT", "KIBITZ_WORKERS", "KIBITZ_PUBLIC_URL"):
        assert name in result.stderr


def test_settings_never_prints_secrets(tmp_path: Path) -> None:
    result = run(tmp_path, "settings", KIBITZ_SECRET_KEY="s3cr3t-value-that-is-long-enough-xyz")
    assert result.returncode == 0 and "KIBITZ_SECRET_KEY" in result.stdout
    assert "s3cr3t" not in result.stdout


def test_threads_and_tokens(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    created = run(tmp_path, "thread", "create", "/x", "--title", "X marks")
    assert created.returncode == 0 and "created thread /x" in created.stdout
    assert run(tmp_path, "thread", "create", "/x").returncode == 1
    assert "is closed" in run(tmp_path, "thread", "close", "/x").stdout
    assert "/x (closed)" in run(tmp_path, "thread", "list").stdout
    token = run(tmp_path, "token", "create", "site").stdout.strip()
    assert token.startswith("kbz_") and len(token) > 40
    assert "site  created" in run(tmp_path, "token", "list").stdout
    assert run(tmp_path, "token", "revoke", "site").returncode == 0
    again = run(tmp_path, "token", "revoke", "site")
    assert again.returncode == 1 and "No active token named 'site'" in again.stderr


def test_a_threads_own_moderation_policy(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert run(tmp_path, "thread", "create", "/x").returncode == 0
    shown = run(tmp_path, "thread", "policy", "/x", KIBITZ_MODERATION_MAX_LINKS="4")
    assert shown.returncode == 0 and "max_links = 4  (site)" in shown.stdout
    changed = run(
        tmp_path,
        "thread",
        "policy",
        "/x",
        "--set",
        "max_links=0",
        "--set",
        "block_words=ferry, harbour tax",
        KIBITZ_MODERATION_BLOCK_WORDS="scam",
    )
    assert changed.returncode == 0, changed.stderr
    assert "max_links = 0  (thread)" in changed.stdout
    assert "block_words = scam, ferry, harbour tax  (thread)" in changed.stdout
    cleared = run(tmp_path, "thread", "policy", "/x", "--clear", "max_links")
    assert "max_links = 2  (site)" in cleared.stdout and "harbour tax" in cleared.stdout
    bad = run(tmp_path, "thread", "policy", "/x", "--set", "max_links=lots")
    assert bad.returncode == 1 and "max_links is a whole number" in bad.stderr
    unknown = run(tmp_path, "thread", "policy", "/x", "--set", "colour=red")
    assert unknown.returncode == 1 and "no policy called 'colour'" in unknown.stderr
    assert run(tmp_path, "thread", "policy", "/nowhere").returncode == 1


def test_article_add_and_demo(tmp_path: Path) -> None:
    file = tmp_path / "post.md"
    file.write_text("---\ntitle: Hello\ndate: 2024-05-06\n---\nBody\n")
    assert run(tmp_path, "migrate").returncode == 0
    added = run(tmp_path, "article", "add", str(file))
    assert added.returncode == 0 and "/2024/05/hello" in added.stdout
    bad = tmp_path / "bad.md"
    bad.write_text("no front matter")
    refused = run(tmp_path, "article", "add", str(bad))
    assert refused.returncode == 1 and "front matter" in refused.stderr
    demo = run(tmp_path, "demo")
    assert demo.returncode == 0 and "reference article at /2021/06/" in demo.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    environ = {"PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
               "KIBITZ_LOG_LEVEL": "warning"}  # fmt: skip
    server = subprocess.Popen(
        [KIBITZ, "serve", "--port", str(port)], cwd=tmp_path, env=environ,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # migrations and the moderation model load first
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kibitz serve did not come up"
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            time.sleep(0.1)
        spec = httpx.get(f"{base}/api/v1/openapi.json").json()
        assert spec["info"]["title"] == "kibitz" and "/api/v1/comments" in spec["paths"]
        posted = httpx.post(f"{base}/api/v1/comments",
                            json={"thread": "/a", "body": "hi", "author_name": "Al"})  # fmt: skip
        # by default a first-time commenter's comment waits for a moderator
        assert posted.status_code == 202 and posted.json()["status"] == "pending"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()


def test_check_reports_a_redis_that_does_not_answer(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    down = run(tmp_path, "check", KIBITZ_REDIS_URL="redis://127.0.0.1:9/0")
    assert down.returncode == 1 and "redis: does not answer" in down.stderr
    up = run(tmp_path, "check", KIBITZ_REDIS_URL="redis://127.0.0.1:6379/0")
    assert up.returncode == 0 and "redis: ok" in up.stdout, up.stderr


def test_serve_gives_new_workers_time_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn kills a worker that does not answer its supervisor within
    timeout_worker_healthcheck (5 s by default), and a new worker answers only after it has
    imported kibitz: on a busy machine every new worker was killed before it could answer."""
    import uvicorn
    from click.testing import CliRunner

    from kibitz.cli import main

    given: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: given.update(kw, app=app))
    monkeypatch.chdir(tmp_path)
    env = {"KIBITZ_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KIBITZ_WORKERS": "2"}
    result = CliRunner().invoke(main, ["serve", "--no-migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert given["app"] == "kibitz.app:app_from_env" and given["workers"] == 2
    assert given["timeout_worker_healthcheck"] >= 30
    assert given["access_log"] is False  # nginx logs requests; a line each costs ~40% CPU
    env["KIBITZ_ACCESS_LOG"] = "true"
    assert CliRunner().invoke(main, ["serve", "--no-migrate"], env=env).exit_code == 0
    assert given["access_log"] is True
