"""Real kibitz processes sharing PostgreSQL and Redis, as a deployment runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from tests.conftest import NO_MODERATION_ENV, SECRET
from tests.sse import free_port

KIBITZ = str(Path(sys.executable).with_name("kibitz"))
REDIS_URL = os.environ.get("KIBITZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_fail(url: str = REDIS_URL) -> None:
    import pytest

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is needed for these tests: {exc}")


def new_prefix() -> str:
    """Keys and channels of this test only: parallel tests never see each other."""
    return f"kibitz-test:{uuid.uuid4().hex[:12]}:"


def forget_prefix(prefix: str, url: str = REDIS_URL) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


class Process:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.proc = proc
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]


def spawn(tmp_path: Path, database_url: str, **settings: str) -> Process:
    """Start ``kibitz serve`` on a free port; ``wait_until_up`` before using it."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"], "KIBITZ_DATABASE_URL": database_url,
        "KIBITZ_SECRET_KEY": SECRET, "KIBITZ_PUBLIC_URL": "http://127.0.0.1:8000",
        "KIBITZ_WORKER_IN_PROCESS": "false", "KIBITZ_LOG_LEVEL": "info",
        "KIBITZ_AUTO_MIGRATE": "false", **NO_MODERATION_ENV,
        **{f"KIBITZ_{k.upper()}": v for k, v in settings.items()},
    }  # fmt: skip
    log = tmp_path / f"kibitz-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [KIBITZ, "serve", "--port", str(port)], cwd=tmp_path, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Process(port, proc, log)


def wait_until_up(process: Process, timeout: float = 90) -> None:
    """Until /healthz answers (generous: a loaded test machine starts Python slowly)."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.proc.poll() is None, process.log.read_text()
        try:
            if httpx.get(f"{process.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, process.log.read_text()
        time.sleep(0.05)


def stop(process: Process) -> None:
    process.proc.terminate()
    try:
        process.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.proc.kill()
        process.proc.wait()


@contextmanager
def kibitz_serve(tmp_path: Path, database_url: str, **settings: str) -> Iterator[Process]:
    """``kibitz serve`` on a free port, waited for until /healthz answers."""
    process = spawn(tmp_path, database_url, **settings)
    try:
        wait_until_up(process)
        yield process
    finally:
        stop(process)


@contextmanager
def kibitz_pair(tmp_path: Path, database_url: str, **settings: str) -> Iterator[list[Process]]:
    """Two ``kibitz serve`` processes with the same settings, started side by side."""
    processes = [spawn(tmp_path, database_url, **settings) for _ in range(2)]
    try:
        for process in processes:
            wait_until_up(process)
        yield processes
    finally:
        for process in processes:
            stop(process)
