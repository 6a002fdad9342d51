"""Fixtures: every database-facing test runs on a real SQLite file and a real PostgreSQL.

PostgreSQL: each test worker creates its own database on the local server
(KIBITZ_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test, used only to
create and drop it) and empties it between tests. A server that does not answer is a test
failure, never a skip: set KIBITZ_TEST_DATABASES=sqlite to leave PostgreSQL out on purpose.
"""

from __future__ import annotations

import asyncio
import email
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from kibitz.app import create_app
from kibitz.context import Kibitz
from kibitz.db.engine import Database
from kibitz.db.tables import metadata
from kibitz.settings import Settings

ENGINES = [
    e.strip() for e in os.environ.get("KIBITZ_TEST_DATABASES", "sqlite,postgresql").split(",")
]
ADMIN_URL = os.environ.get("KIBITZ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "test-secret-key-that-is-long-enough-0123456789"
ORIGIN = "http://127.0.0.1:8000"


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run async set-up from sync code, even when an event loop is already running."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro_fn()))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0] if result else None


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A database of this test worker's own, with the schema, dropped at the end."""
    name = f"kibitz_test_{worker_id}_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        _run(lambda: admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_URL} is needed for these tests: {exc}")
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    async def create_schema() -> None:
        db = Database(url)
        await db.write(metadata.create_all)
        await db.dispose()

    _run(create_schema)
    yield url
    _run(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (no tables), dropped afterwards."""
    name = f"kibitz_fresh_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run(lambda: admin(f'CREATE DATABASE "{name}"'))
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _run(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_postgres(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=ENGINES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kibitz.db'}"
        db = Database(url)
        await db.write(metadata.create_all)
        await db.dispose()
        return url
    url: str = request.getfixturevalue("postgres_url")
    await _empty_postgres(url)
    return url


# tests of other features post freely; moderation's own tests turn on what they test
NO_MODERATION: dict[str, Any] = {
    "moderation": "none",
    "moderation_repeat_seconds": 0,
    "moderation_offensive_threshold": 100,
    "moderation_max_links": 1000,
    "moderation_min_fill_seconds": 0,
}
# the same for a real ``kibitz serve`` process
NO_MODERATION_ENV = {f"KIBITZ_{name.upper()}": str(v) for name, v in NO_MODERATION.items()}


def test_settings(database_url: str, **overrides: Any) -> Settings:
    base = Settings(
        database_url=database_url, secret_key=SECRET, public_url=ORIGIN, **NO_MODERATION
    )
    return replace(base, **overrides)


MakeKibitz = Callable[..., Awaitable[Kibitz]]


@pytest.fixture
async def make_kb(database_url: str) -> AsyncIterator[MakeKibitz]:
    """Kibitz contexts over the test database, with settings overridden per test."""
    made: list[Kibitz] = []

    async def make(**overrides: Any) -> Kibitz:
        kb = Kibitz.create(test_settings(database_url, **overrides))
        made.append(kb)
        return kb

    yield make
    for kb in made:
        await kb.close()


@pytest.fixture
async def kb(make_kb: MakeKibitz) -> Kibitz:
    return await make_kb()


MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client(make_kb: MakeKibitz) -> AsyncIterator[MakeClient]:
    """In-process HTTP clients for the app (in the test's own event loop), each with its own
    cookie jar, like separate readers' browsers. ``client.kb`` is the app's context."""
    clients: list[httpx.AsyncClient] = []

    async def make(kb: Kibitz | None = None, **overrides: Any) -> httpx.AsyncClient:
        kb = kb or await make_kb(**overrides)
        transport = httpx.ASGITransport(app=create_app(kb=kb), client=("203.0.113.7", 4321))
        client = httpx.AsyncClient(transport=transport, base_url=ORIGIN)
        client.kb = kb  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> httpx.AsyncClient:
    return await make_client()


# -- a real SMTP server on loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Inbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.delay = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(message: Message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode(part.get_content_charset() or "utf-8")
        return ""


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its cheapest, for tests that log in often (the real cost is tested once)."""
    from argon2 import PasswordHasher

    from kibitz.services import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "hasher", cheap)
