"""Content a publisher manages from the shell: threads, API tokens and articles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kibitz.cli.base import main, run


@main.group()
def thread() -> None:
    """Create, close and reopen threads; set their moderation policy."""


@thread.command("create")
@click.argument("key")
@click.option("--title", default="", help="The page's title.")
@click.option("--url", default="", help="The page's address.")
def thread_create(key: str, title: str, url: str) -> None:
    """Open a discussion for KEY (usually the page path)."""
    from kibitz.models import NewThread
    from kibitz.services import threads

    info = run(lambda kb: threads.create(kb, NewThread(key=key, title=title, url=url)))
    click.echo(f"created thread {info.key}")


def _set_closed(key: str, closed: bool) -> None:
    from kibitz.models import ThreadUpdate
    from kibitz.services import threads

    info = run(lambda kb: threads.update(kb, key, ThreadUpdate(closed=closed)))
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


@thread.command("policy")
@click.argument("key")
@click.option(
    "--set",
    "values",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change a policy for this thread (again for more); lists are comma-separated.",
)
@click.option("--clear", multiple=True, metavar="NAME",
              help="Put a policy back to the site's setting (again for more).")  # fmt: skip
def thread_policy(key: str, values: tuple[str, ...], clear: tuple[str, ...]) -> None:
    """Show or change KEY's moderation policy: max_links, block_words, block_domains (added to
    the site's), offensive_threshold, reports_to_hold, min_fill_seconds."""
    from kibitz.services import audit
    from kibitz.services import thread_policy as tp

    changes: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--set")
        changes[name.strip()] = value

    async def work(kb: Any) -> tuple[Any, Any]:
        if changes or clear:
            await tp.update(kb, audit.SYSTEM, key, values=changes, clear=list(clear))
        return await tp.get(kb, key)

    own, settings = run(work)
    for name, (setting, _) in tp.POLICIES.items():
        where = "thread" if name in tp.as_dict(own) else "site"
        value = getattr(settings, setting)
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{name} = {shown}  ({where})")


@thread.command("list")
@click.option("--limit", default=50, show_default=True)
def thread_list(limit: int) -> None:
    """The newest threads with their comment counts."""
    from kibitz.services import threads

    for info in run(lambda kb: threads.list_recent(kb, limit)):
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

    click.echo(run(lambda kb: tokens.create(kb, name)))


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Stop accepting the token called NAME."""
    from kibitz.services import tokens

    run(lambda kb: tokens.revoke(kb, name))
    click.echo(f"revoked {name}")


@token.command("list")
def token_list() -> None:
    """Every token, with when it was made and revoked."""
    from kibitz.services import tokens

    for row in run(tokens.list_all):
        revoked = f"  revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else ""
        click.echo(f"{row.name}  created {row.created_at:%Y-%m-%d}{revoked}")


@main.group()
def article() -> None:
    """Articles that kibitz serves itself, each with its discussion."""


@article.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def article_add(file: Path) -> None:
    """Add or update the article in FILE (Markdown with front matter: title, date, slug or
    path, image, image_credit, summary). It is served at its clean URL. Mark a passage with a
    question for readers as [the passage]{?#key The question} (docs/inline-feedback.md)."""
    from kibitz.services import articles

    saved = run(lambda kb: articles.add_file(kb, file))
    click.echo(f"{saved.path}  {saved.title}")
