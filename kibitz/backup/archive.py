"""``kibitz export``: the whole site as one versioned JSON-lines archive.

Which tables go in is decided by ``rules.py`` over the table metadata, in dependency order,
rows in primary-key order, so that the same data always gives the same bytes (a gzipped
archive carries no time or name in its header either): export, restore, export again gives
an identical file, on SQLite and PostgreSQL alike. docs/backup-format.md describes the format.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.types import TypeDecorator

from kibitz import __version__
from kibitz.backup.rules import RULES, Exclude, Export
from kibitz.context import Kibitz
from kibitz.db.tables import metadata
from kibitz.services.errors import ServiceError
from kibitz.settings import Settings, setting_fields

FORMAT = "kibitz-backup"
VERSION = 1
# settings that describe a machine, not the site: left out so that an archive is the same
# wherever it is made (and the database URL may hold a password)
DEPLOYMENT_SETTINGS = {
    "env",
    "database_url",
    "host",
    "port",
    "workers",
    "auto_migrate",
    "db_pool_size",
    "log_level",
    "trust_forwarded_for",
    "worker_in_process",
    "cache_max_bytes",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_user",
    "backup_enabled",
    "backup_dir",
    "backup_interval_seconds",
    "backup_keep",
}


class ExportFailed(ServiceError):
    status = 409


def column_kind(column: sa.Column[Any]) -> str:
    """How a column's values are written in the archive."""
    t: Any = column.type
    if isinstance(t, TypeDecorator):
        t = t.impl_instance
    kinds: list[tuple[type[Any], str]] = [
        (sa.Boolean, "boolean"),
        (sa.DateTime, "datetime"),
        (sa.Float, "float"),
        (sa.Integer, "integer"),
        (sa.Numeric, "decimal"),
        (sa.JSON, "json"),
        (sa.LargeBinary, "binary"),
        (sa.String, "text"),
    ]
    for cls, kind in kinds:
        if isinstance(t, cls):
            return kind
    raise ExportFailed(
        "unknown_type", f"{column.table.name}.{column.name}: cannot archive values of type {t!r}"
    )


def encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == "binary":
        return base64.b64encode(value).decode("ascii")
    if kind == "decimal":
        return str(Decimal(value))
    if kind == "float":
        return float(value)
    if kind == "boolean":
        return bool(value)
    return value


def plan() -> list[tuple[sa.Table, list[sa.Column[Any]]]]:
    """Every exported table, parents first, with the columns it exports."""
    out = []
    for table in metadata.sorted_tables:
        rule = RULES.get(table.name)
        if rule is None:
            raise ExportFailed(
                "table_without_rule",
                f"Table {table.name} has no backup rule in kibitz/backup/rules.py; no archive "
                "is written rather than one that leaves it out, or leaks it, by accident.",
            )
        if isinstance(rule, Export):
            out.append((table, [c for c in table.columns if c.name not in rule.omit]))
    return out


_CREDENTIALS = re.compile(r"://[^/\s@]*@")


def archived_settings(settings: Settings) -> dict[str, Any]:
    """Settings that describe the site; never a secret, nor an address with a login in it
    (a setting added later, a Redis URL say, is left out if it holds one)."""
    out = {}
    for f in setting_fields():
        if f.metadata.get("secret") or f.name in DEPLOYMENT_SETTINGS:
            continue
        value = getattr(settings, f.name)
        if any(
            _CREDENTIALS.search(str(v)) for v in (value if isinstance(value, list) else [value])
        ):
            continue
        out[f.name] = value
    return out


def _line(obj: Any) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _write(
    conn: Connection,
    out: IO[bytes],
    schema: str | None,
    settings: Settings,
    progress: Callable[[int], None] | None,
) -> int:
    if conn.dialect.name == "postgresql":
        # one snapshot for every table, however long the export takes
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    tables = plan()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kibitz": __version__,
        "schema": schema,
        "tables": [t.name for t, _ in tables],
        "excluded": {n: r.reason for n, r in sorted(RULES.items()) if isinstance(r, Exclude)},
        "omitted": {
            f"{n}.{col}": why
            for n, r in sorted(RULES.items())
            if isinstance(r, Export)
            for col, why in sorted(r.omit.items())
        },
    }
    out.write(_line(header))
    out.write(_line({"settings": archived_settings(settings)}))
    total = 0
    for table, columns in tables:
        kinds = [column_kind(c) for c in columns]
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        out.write(
            _line(
                {
                    "table": table.name,
                    "rows": count,
                    "columns": [[c.name, k] for c, k in zip(columns, kinds, strict=True)],
                }
            )
        )
        order = list(table.primary_key.columns) or columns
        result = conn.execution_options(yield_per=2000).execute(
            sa.select(*columns).order_by(*order)
        )
        written = 0
        for row in result:
            out.write(_line([encode(k, v) for k, v in zip(kinds, row, strict=True)]))
            written += 1
        if written != count:  # only a database changing under a non-snapshot read does this
            raise ExportFailed("changed", f"{table.name} changed during the export; run it again")
        total += written
        if progress:
            progress(total)
    out.write(_line({"end": True, "rows": total}))
    return total


async def export(
    kb: Kibitz, out: IO[bytes], *, gzipped: bool, progress: Callable[[int], None] | None = None
) -> int:
    """Write the archive to ``out``; returns the number of rows written."""
    # Alembic (and Mako, which loads Pygments' lexers) is 6 MB in every web worker, where
    # only this export needs it
    from kibitz.db import migrate

    schema = await migrate.current_revision(kb.db)
    head = migrate.head_revision()
    if schema != head:
        raise ExportFailed(
            "not_migrated",
            f"The database is at schema {schema}, this kibitz "
            f"at {head}: run `kibitz migrate` first.",
        )
    plan()  # refuse before writing anything
    sink: IO[bytes] = out
    if gzipped:
        sink = gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="")  # type: ignore[assignment]
    try:
        rows = await kb.db.read(lambda conn: _write(conn, sink, schema, kb.settings, progress))
    finally:
        if gzipped:
            sink.close()
    return rows


def default_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"kibitz-backup-{now:%Y%m%dT%H%M%SZ}.jsonl.gz"


async def export_to_path(kb: Kibitz, path: Path) -> int:
    """Write the archive to a file: first under a temporary name, readable only by its owner
    (it holds readers' e-mail addresses), then renamed, so a half-written file never looks
    like an archive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            rows = await export(kb, f, gzipped=path.name.endswith(".gz"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows
