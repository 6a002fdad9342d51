"""Moderator accounts from the shell: the first admin, and help for locked-out ones."""

from __future__ import annotations

import sys

import click

from kibitz.cli.base import main, run
from kibitz.context import Kibitz


@main.group()
def admin() -> None:
    """Moderator and admin accounts (invite more from the dashboard at /admin)."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@admin.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The name shown in the dashboard and audit log.")
@click.option(
    "--role",
    type=click.Choice(["admin", "moderator"]),
    default="admin",
    show_default=True,
    help="Admins also manage accounts.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def admin_create(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Make an account for EMAIL that logs in at /admin."""
    from kibitz.services import accounts

    password = _password(password_stdin)
    run(lambda kb: accounts.create(kb, email, name, password, role))
    click.echo(f"created {role} {email}")


@admin.command("list")
def admin_list() -> None:
    """Every account, with its role and whether it uses a second factor."""
    from kibitz.services import accounts

    rows, _invites = run(accounts.listing)
    for row in rows:
        state = " (disabled)" if row.disabled_at else ""
        second = " +TOTP" if row.totp_secret else ""
        click.echo(f"{row.role:<9} {row.email}  {row.name}{second}{state}")


@admin.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def admin_password(email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL; its sessions end."""
    from kibitz.services import accounts

    password = _password(password_stdin)
    run(lambda kb: accounts.set_password(kb, email, password))
    click.echo(f"new password set for {email}")


@admin.command("reset-totp")
@click.argument("email")
def admin_reset_totp(email: str) -> None:
    """Remove the second factor of EMAIL (a lost phone)."""
    from kibitz.services import accounts, audit

    async def work(kb: Kibitz) -> None:
        row = await accounts.by_email(kb, email)
        await accounts.disable_totp(kb, audit.SYSTEM, row.id)

    run(work)
    click.echo(f"second factor removed for {email}")


def _set_disabled(email: str, disabled: bool) -> None:
    from kibitz.services import accounts, audit

    async def work(kb: Kibitz) -> None:
        row = await accounts.by_email(kb, email)
        await accounts.set_disabled(kb, audit.SYSTEM, row.id, disabled)

    run(work)
    click.echo(f"{email} {'disabled' if disabled else 'enabled'}")


@admin.command("disable")
@click.argument("email")
def admin_disable(email: str) -> None:
    """Stop EMAIL from logging in (its sessions end)."""
    _set_disabled(email, True)


@admin.command("enable")
@click.argument("email")
def admin_enable(email: str) -> None:
    """Let a disabled EMAIL log in again."""
    _set_disabled(email, False)
