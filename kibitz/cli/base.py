"""The ``kibitz`` command group and what every subcommand shares."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from kibitz.context import Kibitz
from kibitz.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def load_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo("kibitz: the configuration has problems:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def run(work: Callable[[Kibitz], Awaitable[T]]) -> T:
    """Run ``work`` with a Kibitz context; service errors become a one-line message."""
    from kibitz.services.errors import ServiceError

    async def go() -> T:
        kb = Kibitz.create(load_or_exit())
        try:
            return await work(kb)
        finally:
            await kb.close()

    try:
        return asyncio.run(go())
    except ServiceError as exc:
        click.echo(f"kibitz: {exc.message}", err=True)
        sys.exit(1)


@click.group()
@click.version_option(package_name="kibitz")
def main() -> None:
    """Reader discussion for independent news sites."""
