"""Outgoing mail from the shell: a test mail, what the outbox holds, failed rows queued again."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click

from kibitz.cli.base import main, run
from kibitz.context import Kibitz


@main.group()
def mail() -> None:
    """Outgoing mail and webhooks."""


@mail.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test mail to ADDRESS now, through the configured SMTP server."""
    import aiosmtplib

    from kibitz.mail import backends, messages
    from kibitz.services.addresses import check_email

    async def work(kb: Kibitz) -> str:
        email = check_email(address, "address", required_message="Give an address.") or ""
        message = backends.build(kb.settings, messages.test_mail(kb, email), "")
        await backends.backend_for(kb.settings).send(message)
        return "SMTP server " + kb.settings.smtp_host if kb.settings.smtp_host else "the log"

    try:
        where = run(work)
    except aiosmtplib.SMTPException as exc:  # refused: the login, the sender, the recipient
        click.echo(f"kibitz: the SMTP server refused the mail: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"kibitz: could not send: {exc}", err=True)
        sys.exit(1)
    click.echo(f"sent a test mail to {address} through {where}")


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@mail.command("status")
@click.option("--last", "limit", default=10, show_default=True,
              help="How many of the last failed rows to show.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def mail_status(limit: int, as_json: bool) -> None:
    """What the outbox holds: rows by status and kind, the age of the oldest one waiting,
    and the last failures (addresses masked)."""
    from kibitz.mail import status

    report = run(lambda kb: status.report(kb, limit=limit))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return
    if not report.counts:
        click.echo("The outbox is empty.")
    for state, kind, n in report.counts:
        click.echo(f"{state:8} {kind:8} {n}")
    if report.oldest_waiting is not None:
        click.echo(f"oldest waiting: queued {_age(report.oldest_waiting)} ago")
    if report.failures:
        click.echo(
            f"\nlast {len(report.failures)} failed (`kibitz mail retry --id N` or --failed):"
        )
    for f in report.failures:
        click.echo(f"  #{f.id} {f.topic} to {f.to}: {f.what}")
        click.echo(
            f"      {f.attempts} tries, given up {f.failed_at:%Y-%m-%d %H:%M} UTC: {f.error}"
        )


@mail.command("retry")
@click.option("--failed", "all_failed", is_flag=True, help="Queue every failed row again.")
@click.option(
    "--id", "ids", type=int, multiple=True,
    help="Queue row N again (failed, or waiting for its next try); repeatable.",
)  # fmt: skip
def mail_retry(all_failed: bool, ids: tuple[int, ...]) -> None:
    """Queue failed mails and webhooks again, due now, with a fresh give-up age; the running
    worker (`kibitz serve` or `kibitz worker`) sends them."""
    from kibitz.mail import status
    from kibitz.services import audit

    if not all_failed and not ids:
        raise click.UsageError("say which rows: --failed, or --id N")
    queued = run(lambda kb: status.retry(kb, audit.SYSTEM, ids=list(ids), all_failed=all_failed))
    missing = sorted(set(ids) - set(queued))
    if missing:
        click.echo(f"kibitz: not queued (no such row, or sent already): {missing}", err=True)
    click.echo(f"queued {len(queued)} again" + (f": {queued}" if queued else ""))
    if missing:
        sys.exit(1)
