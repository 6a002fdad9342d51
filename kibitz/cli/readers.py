"""A reader's data from the shell: what kibitz holds about an e-mail address, and erasing it."""

from __future__ import annotations

import json

import click

from kibitz.cli.base import main, run


@main.group()
def reader() -> None:
    """Readers' data (also on the dashboard's Readers page, and for readers at /my-data)."""


@reader.command("export")
@click.argument("email")
def reader_export(email: str) -> None:
    """Print, as JSON, everything kibitz holds about EMAIL."""
    from kibitz.services import rights

    click.echo(json.dumps(run(lambda kb: rights.export(kb, email)), ensure_ascii=False, indent=2))


@reader.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reader_erase(email: str, yes: bool) -> None:
    """Erase everything kibitz holds about EMAIL (per KIBITZ_ERASURE_MODE)."""
    from kibitz.services import audit, rights

    if not yes:
        click.confirm(f"Erase everything about {email}? This cannot be undone", abort=True)
    done = run(lambda kb: rights.erase(kb, email, audit.SYSTEM))
    click.echo(
        f"erased {done.comments} comments ({done.deleted} deleted, {done.anonymised} "
        f"anonymised), {done.votes} votes, {done.reports} reports, "
        f"{done.subscriptions} subscriptions, {done.mails} mails"
    )
