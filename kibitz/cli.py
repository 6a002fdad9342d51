"""The ``kibitz`` command: serve, migrate, check, and manage threads and API tokens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from kibitz.context import Kibitz
from kibitz.settings import (
    Settings,
    SettingsError,
    example_toml,
    load_settings,
    settings_reference_markdown,
)

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo("kibitz: the configuration has problems:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def _run(work: Callable[[Kibitz], Awaitable[T]]) -> T:
    """Run ``work`` with a Kibitz context; service errors become a one-line message."""
    from kibitz.services.errors import ServiceError

    async def main() -> T:
        kb = Kibitz.create(_settings())
        try:
            return await work(kb)
        finally:
            await kb.close()

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        click.echo(f"kibitz: {exc.message}", err=True)
        sys.exit(1)


@click.group()
@click.version_option(package_name="kibitz")
def main() -> None:
    """Reader discussion for independent news sites."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default: KIBITZ_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: KIBITZ_PORT).")
@click.option("--workers", type=int, default=None, help="Processes (default: KIBITZ_WORKERS).")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations first.")
def serve(host: str | None, port: int | None, workers: int | None, no_migrate: bool) -> None:
    """Serve the API, the pages and the feeds."""
    import uvicorn

    settings = _settings()
    if settings.auto_migrate and not no_migrate:
        _migrate()
    uvicorn.run(
        "kibitz.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        proxy_headers=settings.trust_forwarded_for,
        server_header=False,
    )


def _migrate() -> str | None:
    from kibitz.db import migrate as m

    async def work(kb: Kibitz) -> str | None:
        await m.upgrade(kb.db)
        return await m.current_revision(kb.db)

    return _run(work)


@main.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    revision = _migrate()
    click.echo(f"database at revision {revision}")


@main.command()
def check() -> None:
    """Report every bad or missing setting at once, and whether the database answers."""
    settings = _settings()
    from kibitz.db import migrate as m

    async def work(kb: Kibitz) -> tuple[str | None, str | None]:
        return await m.current_revision(kb.db), m.head_revision()

    try:
        current, head = _run(work)
    except Exception as exc:  # the point is to report, whatever the driver raises
        click.echo(f"kibitz: cannot reach the database: {exc}", err=True)
        sys.exit(1)
    click.echo(f"settings: ok ({settings.env})")
    if current != head:
        click.echo(f"database: at {current or 'nothing'}, newest is {head}; run `kibitz migrate`")
        sys.exit(1)
    click.echo(f"database: ok (revision {current})")


@main.command("settings")
@click.option("--markdown", "fmt", flag_value="markdown", help="docs/settings.md")
@click.option("--toml", "fmt", flag_value="toml", help="kibitz.example.toml")
def settings_cmd(fmt: str | None) -> None:
    """Print every setting with its default and help."""
    if fmt == "toml":
        click.echo(example_toml(), nl=False)
    else:
        click.echo(settings_reference_markdown(), nl=False)


@main.group()
def thread() -> None:
    """Create, close and reopen threads."""


@thread.command("create")
@click.argument("key")
@click.option("--title", default="", help="The page's title.")
@click.option("--url", default="", help="The page's address.")
def thread_create(key: str, title: str, url: str) -> None:
    """Open a discussion for KEY (usually the page path)."""
    from kibitz.models import NewThread
    from kibitz.services import threads

    info = _run(lambda kb: threads.create(kb, NewThread(key=key, title=title, url=url)))
    click.echo(f"created thread {info.key}")


def _set_closed(key: str, closed: bool) -> None:
    from kibitz.models import ThreadUpdate
    from kibitz.services import threads

    info = _run(lambda kb: threads.update(kb, key, ThreadUpdate(closed=closed)))
    click.echo(f"thread {info.key} is {'closed' if info.closed else 'open'}")


@thread.command("close")
@click.argument("key")
def thread_close(key: str) -> None:
    """Stop taking new comments on KEY."""
    _set_closed(key, True)


@thread.command("open")
@click.argument("key")
def thread_open(key: str) -> None:
    """Take new comments on KEY again."""
    _set_closed(key, False)


@thread.command("list")
@click.option("--limit", default=50, show_default=True)
def thread_list(limit: int) -> None:
    """The newest threads with their comment counts."""
    from kibitz.services import threads

    for info in _run(lambda kb: threads.list_recent(kb, limit)):
        state = " (closed)" if info.closed else ""
        click.echo(f"{info.comment_count:>6}  {info.key}{state}")


@main.group()
def token() -> None:
    """API tokens for a site's developer."""


@token.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Make a token called NAME; it is shown once."""
    from kibitz.services import tokens

    click.echo(_run(lambda kb: tokens.create(kb, name)))


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Stop accepting the token called NAME."""
    from kibitz.services import tokens

    _run(lambda kb: tokens.revoke(kb, name))
    click.echo(f"revoked {name}")


@token.command("list")
def token_list() -> None:
    """Every token, with when it was made and revoked."""
    from kibitz.services import tokens

    for row in _run(tokens.list_all):
        revoked = f"  revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else ""
        click.echo(f"{row.name}  created {row.created_at:%Y-%m-%d}{revoked}")


@main.group()
def article() -> None:
    """Articles that kibitz serves itself, each with its discussion."""


@article.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def article_add(file: Path) -> None:
    """Add or update the article in FILE (Markdown with front matter: title, date, slug or
    path, image, image_credit, summary). It is served at its clean URL."""
    from kibitz.services import articles

    saved = _run(lambda kb: articles.add_file(kb, file))
    click.echo(f"{saved.path}  {saved.title}")


@main.command()
def demo() -> None:
    """Load the reference article and its discussion (again: changes nothing)."""
    from kibitz import reference

    _migrate()
    saved = _run(reference.load)
    click.echo(f"reference article at {saved.path}")


@main.command()
@click.option("--once", is_flag=True, help="Carry out what is due, then stop.")
def worker(once: bool) -> None:
    """Send mail and webhooks from the outbox (besides, or instead of, `kibitz serve`)."""
    import signal

    from kibitz.mail.worker import Worker

    async def work(kb: Kibitz) -> int:
        w = Worker(kb)
        if once:
            return await w.drain()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await w.run_forever(stop)
        return 0

    handled = _run(work)
    if once:
        click.echo(f"handled {handled} outbox rows")


@main.group()
def mail() -> None:
    """Outgoing mail."""


@mail.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test mail to ADDRESS now, through the configured SMTP server."""
    from kibitz.mail import backends, messages
    from kibitz.services.addresses import check_email

    async def work(kb: Kibitz) -> str:
        email = check_email(address, "address", required_message="Give an address.") or ""
        message = backends.build(kb.settings, messages.test_mail(kb, email), "")
        await backends.backend_for(kb.settings).send(message)
        return "SMTP server " + kb.settings.smtp_host if kb.settings.smtp_host else "the log"

    try:
        where = _run(work)
    except OSError as exc:
        click.echo(f"kibitz: could not send: {exc}", err=True)
        sys.exit(1)
    click.echo(f"sent a test mail to {address} through {where}")
