"""Outgoing mail from the shell."""

from __future__ import annotations

import sys

import click

from kibitz.cli.base import main, run
from kibitz.context import Kibitz


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
        where = run(work)
    except OSError as exc:
        click.echo(f"kibitz: could not send: {exc}", err=True)
        sys.exit(1)
    click.echo(f"sent a test mail to {address} through {where}")
