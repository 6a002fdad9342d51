"""Running kibitz: serve, migrate, check, settings, demo and the outbox worker."""

from __future__ import annotations

import asyncio
import sys

import click

from kibitz.cli.base import load_or_exit, main, run
from kibitz.context import Kibitz
from kibitz.settings import example_toml, settings_reference_markdown

WORKER_HEALTHCHECK_SECONDS = 60


@main.command()
@click.option("--host", default=None, help="Address to bind (default: KIBITZ_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: KIBITZ_PORT).")
@click.option("--workers", type=int, default=None, help="Processes (default: KIBITZ_WORKERS).")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations first.")
def serve(host: str | None, port: int | None, workers: int | None, no_migrate: bool) -> None:
    """Serve the API, the pages and the feeds."""
    import uvicorn

    settings = load_or_exit()
    if settings.auto_migrate and not no_migrate:
        from kibitz.db import revision

        if not asyncio.run(revision.at_head(settings.database_url)):
            _migrate()
    uvicorn.run(
        "kibitz.app:app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=settings.trust_forwarded_for,
        server_header=False,
        # event streams never finish by themselves: close them after this, not never
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # with --workers, a worker that does not answer its supervisor's ping within this is
        # killed and started again. A new worker answers only once it has imported kibitz
        # (about a second of CPU): uvicorn's 5 s let a busy machine kill every new worker
        # before it answers, again and again, while the others serve alone
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _migrate() -> str | None:
    from kibitz.db import migrate as m

    async def work(kb: Kibitz) -> str | None:
        await m.upgrade(kb.db)
        return await m.current_revision(kb.db)

    return run(work)


@main.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    revision = _migrate()
    click.echo(f"database at revision {revision}")


@main.command()
def check() -> None:
    """Report every bad or missing setting at once, and whether the database answers."""
    settings = load_or_exit()
    from kibitz.db import migrate as m

    async def work(kb: Kibitz) -> tuple[str | None, str | None, bool]:
        return await m.current_revision(kb.db), m.head_revision(), await kb.bus.ping()

    try:
        current, head, redis_ok = run(work)
    except Exception as exc:  # the point is to report, whatever the driver raises
        click.echo(f"kibitz: cannot reach the database: {exc}", err=True)
        sys.exit(1)
    click.echo(f"settings: ok ({settings.env})")
    if settings.redis_url:
        if not redis_ok:
            click.echo("redis: does not answer at KIBITZ_REDIS_URL", err=True)
            sys.exit(1)
        click.echo("redis: ok")
    if current != head:
        click.echo(f"database: at {current or 'nothing'}, newest is {head}; run `kibitz migrate`")
        sys.exit(1)
    click.echo(f"database: ok (revision {current})")
    from kibitz.cli.funding import report_funding

    if not report_funding():
        sys.exit(1)


@main.command("settings")
@click.option("--markdown", "fmt", flag_value="markdown", help="docs/settings.md")
@click.option("--toml", "fmt", flag_value="toml", help="kibitz.example.toml")
def settings_cmd(fmt: str | None) -> None:
    """Print every setting with its default and help."""
    if fmt == "toml":
        click.echo(example_toml(), nl=False)
    else:
        click.echo(settings_reference_markdown(), nl=False)


@main.command()
def demo() -> None:
    """Load the reference article and its discussion (again: changes nothing)."""
    from kibitz import reference

    _migrate()
    saved = run(reference.load)
    click.echo(f"reference article at {saved.path}")


@main.command()
@click.option("--once", is_flag=True, help="Carry out what is due, then stop.")
def worker(once: bool) -> None:
    """Send mail and webhooks from the outbox (besides, or instead of, `kibitz serve`), and
    write scheduled backups when KIBITZ_BACKUP_ENABLED is set."""
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
        jobs = [w.run_forever(stop)]
        if kb.settings.backup_enabled:
            from kibitz.backup import schedule

            jobs.append(schedule.run_forever(kb.settings, stop))
        await asyncio.gather(*jobs)
        return 0

    handled = run(work)
    if once:
        click.echo(f"handled {handled} outbox rows")
