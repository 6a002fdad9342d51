"""Moving in and out: ``kibitz import FORMAT FILE``, ``kibitz export``, ``kibitz backup``."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import click

from kibitz.cli.base import load_or_exit, main, run
from kibitz.context import Kibitz

IMPORT_FORMATS = ("disqus", "wordpress", "isso", "remark42", "commento", "kibitz")


class _Bar:
    """A progress bar on the terminal (nothing when stderr is not one)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.stage = ""
        self.done = 0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        label = {"read": "reading", "write": "writing", "restore": "restoring"}[stage]
        if not total:  # nothing to measure against: a running count
            if stage != self.stage:
                self.close()
                self.stage = stage
            click.echo(f"\r{label} {done:,}", nl=False, err=True)
            return
        if stage != self.stage or self.bar is None:
            self.close()
            self.bar = click.progressbar(length=total, label=label.ljust(9), file=sys.stderr,
                                         show_pos=stage != "read", width=30)  # fmt: skip
            self.bar.__enter__()
            self.stage, self.done = stage, 0
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        elif self.enabled and self.stage:
            click.echo("", err=True)
        self.stage = ""


def _print_report(report: Any) -> None:
    from kibitz.porting.importer import ImportReport

    assert isinstance(report, ImportReport)
    would = "would be " if report.dry_run else ""
    click.echo(
        f"{report.format} import (source {report.source!r})"
        + (": dry run, nothing written" if report.dry_run else "")
    )
    for warning in report.warnings:
        click.echo(f"  warning: {warning}")
    click.echo(
        f"  threads: {report.threads_created} {would}created, "
        f"{report.threads_updated} {would}updated, {report.threads_unchanged} unchanged"
    )
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.statuses.items()))
    click.echo(
        f"  comments: {report.comments_imported} {would}imported"
        + (f" ({statuses})" if statuses else "")
        + f", {report.comments_already_imported} imported before"
    )
    for message, n in sorted(report.notices.items()):
        click.echo(f"  note: {n} x {message}")
    if report.skipped_count:
        click.echo(f"  skipped: {report.skipped_count}")
        for item in report.skipped:
            where = f" ({item.where})" if item.where else ""
            click.echo(f"    - {item.kind} {item.id or '?'}{where}: {item.reason}")
        if report.skipped_count > len(report.skipped):
            click.echo(f"    ... {report.skipped_count - len(report.skipped)} more not listed")
    if report.failed_threads:
        click.echo(f"  {report.failed_threads} threads failed and were left as they were")


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(IMPORT_FORMATS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Read everything, report, write nothing.")
@click.option(
    "--map",
    "rewrites",
    nargs=2,
    multiple=True,
    metavar="OLD NEW",
    help="Rewrite page addresses starting with OLD to start with NEW (repeatable).",
)
@click.option(
    "--map-file",
    type=click.File("r", encoding="utf-8"),
    help="CSV of old address or identifier, new key or address.",
)
@click.option(
    "--key",
    "key_from",
    type=click.Choice(["path", "url", "identifier"]),
    default="path",
    show_default=True,
    help="Thread keys from the page's path, its whole address, or the source's page identifier.",
)
@click.option(
    "--pingbacks",
    type=click.Choice(["skip", "keep"]),
    default="skip",
    show_default=True,
    help="WordPress pingbacks and trackbacks.",
)
@click.option(
    "--source",
    default=None,
    help="Label recorded with imported rows (default: the format); give two sites "
    "of the same kind different labels.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def import_cmd(
    fmt: str,
    file: Path,
    dry_run: bool,
    rewrites: tuple[tuple[str, str], ...],
    map_file: Any,
    key_from: str,
    pingbacks: str,
    source: str | None,
    no_progress: bool,
) -> None:
    """Import FILE, an export of another comment system, or restore a kibitz archive.

    FORMAT is disqus (XML export), wordpress (WXR, with wpDiscuz votes and flags), isso
    (its SQLite database or JSON), remark42 (backup, gzipped or not), commento (JSON export),
    or kibitz (an archive from `kibitz export`, restored into an empty database). Importing
    the same file again changes nothing."""
    bar = _Bar(not no_progress)
    if fmt == "kibitz":
        _restore(file, dry_run, bar)
        return
    from kibitz.porting.importer import ImportOptions, import_file
    from kibitz.porting.mapping import KeyMapping, read_map_file
    from kibitz.porting.records import ImportFailed

    try:
        exact = read_map_file(map_file) if map_file is not None else {}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--map-file") from None
    options = ImportOptions(
        format=fmt,  # type: ignore[arg-type]
        source=source,
        mapping=KeyMapping(key_from=key_from, rewrites=tuple(rewrites), exact=exact),  # type: ignore[arg-type]
        pingbacks=pingbacks,  # type: ignore[arg-type]
        dry_run=dry_run,
    )

    async def work(kb: Kibitz) -> Any:
        with file.open("rb") as f:
            return await import_file(kb, f, options, bar)

    # what is loaded by now lives until the command ends: the collector need not walk it in
    # every full collection, nor once more at exit (0.4 s after a large import's report)
    gc.freeze()

    try:
        report = run(work)
    except ImportFailed as exc:
        bar.close()
        click.echo(f"kibitz: {exc}", err=True)
        sys.exit(1)
    bar.close()
    _print_report(report)


def _restore(file: Path, dry_run: bool, bar: _Bar) -> None:
    from kibitz.backup.restore import RestoreFailed, restore_file

    async def work(kb: Kibitz) -> Any:
        return await restore_file(kb, file, dry_run=dry_run, progress=bar)

    try:
        report = run(work)
    except RestoreFailed as exc:
        bar.close()
        click.echo(f"kibitz: {exc}", err=True)
        sys.exit(1)
    bar.close()
    verb = "would restore" if dry_run else "restored"
    click.echo(
        f"{verb} {report.rows} rows in {len(report.tables)} tables (archive schema {report.schema})"
    )
    for name, n in report.tables.items():
        click.echo(f"  {name}: {n}")
    for line in report.settings_differences:
        click.echo(f"  setting differs: {line}")


@main.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: kibitz-backup-<time>.jsonl.gz here; - for "
    "standard output). A name ending in .gz is compressed.",
)
def export_cmd(output: Path | None) -> None:
    """Write a complete archive of this site (see docs/backup-format.md), to move it or keep
    it; `kibitz import kibitz FILE` restores it into an empty database."""
    from kibitz.backup import archive

    async def work(kb: Kibitz) -> tuple[str, int]:
        if output is not None and str(output) == "-":
            rows = await archive.export(kb, sys.stdout.buffer, gzipped=False)
            return "-", rows
        target = output or Path(archive.default_name())
        rows = await archive.export_to_path(kb, target)
        return str(target), rows

    where, rows = run(work)
    if where != "-":
        click.echo(f"wrote {rows} rows to {where}")


@main.command("backup")
def backup_cmd() -> None:
    """Write an archive into KIBITZ_BACKUP_DIR now and keep the newest KIBITZ_BACKUP_KEEP (for
    cron; `kibitz serve` and `kibitz worker` do it daily when KIBITZ_BACKUP_ENABLED is set)."""
    from kibitz.backup import schedule

    settings = load_or_exit()

    async def work(kb: Kibitz) -> Path:
        return await schedule.backup_now(kb)

    path = run(work)
    click.echo(f"wrote {path} (keeping the newest {settings.backup_keep} in {settings.backup_dir})")
