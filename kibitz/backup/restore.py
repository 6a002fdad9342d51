"""``kibitz import kibitz FILE``: an archive restored into an empty database.

The database is first brought to the archive's schema (it may come from an older kibitz),
then every row goes in, in one transaction: a damaged or cut-off archive restores nothing.
Then the schema is upgraded to this kibitz's, with the data, by the ordinary migrations.
On PostgreSQL the id sequences are moved past the restored ids.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import msgspec
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect

from kibitz.backup.archive import FORMAT, VERSION, archived_settings
from kibitz.context import Kibitz
from kibitz.db import migrate
from kibitz.db.tables import metadata

_BATCH = 1000


class RestoreFailed(Exception):
    pass


class RestoreReport(msgspec.Struct, kw_only=True):
    schema: str
    dry_run: bool
    rows: int = 0
    tables: dict[str, int] = msgspec.field(default_factory=dict)
    # settings recorded in the archive that differ from this server's (settings come from
    # the environment and are not restored)
    settings_differences: list[str] = msgspec.field(default_factory=list)


class _Reader:
    """The archive's lines, decoded, with their numbers for error messages."""

    def __init__(self, file: IO[bytes]) -> None:
        head = file.read(2)
        file.seek(-len(head), 1)
        self.file: IO[bytes] = (
            gzip.GzipFile(fileobj=file, mode="rb") if head == b"\x1f\x8b" else file  # type: ignore[assignment]
        )
        self.n = 0

    def next(self) -> Any:
        try:
            raw = self.file.readline()
        except (OSError, EOFError) as exc:
            raise RestoreFailed(
                f"The archive is damaged near line {self.n + 1}: {exc}. Nothing was restored."
            ) from None
        self.n += 1
        if not raw:
            raise RestoreFailed(
                f"The archive ends early, at line {self.n}: it is cut off. Nothing was restored."
            )
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RestoreFailed(
                f"Line {self.n} of the archive is not JSON: it is damaged or "
                "cut off. Nothing was restored."
            ) from None


def _header(reader: _Reader) -> dict[str, Any]:
    try:
        header = reader.next()
    except RestoreFailed:
        raise RestoreFailed("This is not a kibitz archive.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RestoreFailed("This is not a kibitz archive (its first line does not say so).")
    if header.get("version") != VERSION:
        raise RestoreFailed(
            f"This archive has format version {header.get('version')}; this "
            f"kibitz reads version {VERSION}. Use a newer kibitz."
        )
    schema = header.get("schema")
    known = None
    if isinstance(schema, str):
        try:
            known = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(schema)
        except CommandError:
            known = None
    if not isinstance(schema, str) or known is None:
        raise RestoreFailed(
            f"The archive's schema {schema!r} is unknown to this kibitz: it was "
            "made by a newer one. Restore it with that version."
        )
    return header


def _decode(kind: str, value: Any, sqlite: bool) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        # SQLite keeps UTC as text, in the form SQLAlchemy writes and reads
        return when.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else when
    if kind == "boolean":
        return int(bool(value)) if sqlite else bool(value)
    if kind == "binary":
        return base64.b64decode(value)
    if kind == "decimal":
        return value if sqlite else Decimal(value)
    if kind == "json":
        return json.dumps(value)
    return value


def _sections(
    reader: _Reader, header: dict[str, Any]
) -> Iterator[tuple[str, list[list[str]], Iterator[list[Any]]]]:
    """(table, columns, rows) for each table, checking counts and the end line."""
    expected = list(header.get("tables") or [])
    settings_line = reader.next()
    if not isinstance(settings_line, dict) or "settings" not in settings_line:
        raise RestoreFailed(f"Line {reader.n} of the archive should hold the settings.")
    header["_settings"] = settings_line["settings"]
    total = 0
    for name in expected:
        section = reader.next()
        if not isinstance(section, dict) or section.get("table") != name:
            raise RestoreFailed(f"Line {reader.n}: expected the table {name}.")
        count = int(section.get("rows", -1))
        columns = section.get("columns") or []
        yield name, columns, _rows(reader, name, count, len(columns))
        total += count
    end = reader.next()
    if not isinstance(end, dict) or not end.get("end") or end.get("rows") != total:
        raise RestoreFailed(f"Line {reader.n}: the archive's end mark is missing or wrong.")


def _rows(reader: _Reader, name: str, count: int, width: int) -> Iterator[list[Any]]:
    for _ in range(count):
        row = reader.next()
        if not isinstance(row, list) or len(row) != width:
            raise RestoreFailed(
                f"Line {reader.n} of the archive is not a row of {name}. Nothing was restored."
            )
        yield row


def _nonempty_tables(conn: Connection) -> list[str]:
    # kibitz's own tables: the search index's shadow tables hold rows even when empty
    names = [n for n in inspect(conn).get_table_names() if n in metadata.tables]
    return [
        n
        for n in names
        if conn.execute(sa.text(f'SELECT 1 FROM "{n}" LIMIT 1')).first() is not None  # noqa: S608
    ]


def _insert_all(
    conn: Connection,
    reader: _Reader,
    header: dict[str, Any],
    report: RestoreReport,
    progress: Callable[[int], None] | None,
    write: bool,
) -> None:
    sqlite = conn.dialect.name == "sqlite"
    existing = set(inspect(conn).get_table_names()) if write else set()
    for name, columns, rows in _sections(reader, header):
        names = [c[0] for c in columns]
        kinds = [c[1] for c in columns]
        if write and name not in existing:
            raise RestoreFailed(f"The database has no table {name} at schema {report.schema}.")
        table = sa.table(name, *(sa.column(n) for n in names))
        batch: list[dict[str, Any]] = []
        n = 0
        for row in rows:
            n += 1
            if write:
                batch.append(
                    {c: _decode(k, v, sqlite) for c, k, v in zip(names, kinds, row, strict=True)}
                )
                if len(batch) >= _BATCH:
                    conn.execute(sa.insert(table), batch)
                    batch.clear()
            if progress and n % 5000 == 0:
                progress(report.rows + n)
        if batch:
            conn.execute(sa.insert(table), batch)
        report.tables[name] = n
        report.rows += n
        if progress:
            progress(report.rows)
    if write and conn.dialect.name == "postgresql":
        _reset_sequences(conn, list(report.tables))


def _reset_sequences(conn: Connection, tables: list[str]) -> None:
    """Ids given explicitly do not move a sequence: move each past the highest id."""
    inspector = inspect(conn)
    for name in tables:
        for column in inspector.get_pk_constraint(name).get("constrained_columns", []):
            seq = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": name, "c": column}
            ).scalar()
            if seq:
                conn.execute(
                    sa.text(
                        f'SELECT setval(:s, COALESCE((SELECT MAX("{column}") FROM "{name}"), '  # noqa: S608
                        "0) + 1, false)"
                    ),
                    {"s": seq},
                )


def _is_ancestor(older: str, newer: str) -> bool:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return any(rev.revision == older for rev in script.iterate_revisions(newer, "base"))


async def restore(
    kb: Kibitz,
    file: IO[bytes],
    *,
    dry_run: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> RestoreReport:
    reader = _Reader(file)
    header = _header(reader)
    schema: str = header["schema"]
    report = RestoreReport(schema=schema, dry_run=dry_run)
    current = await migrate.current_revision(kb.db)
    if current is not None:
        busy = await kb.db.read(_nonempty_tables)
        if busy:
            raise RestoreFailed(
                "The database is not empty (rows in " + ", ".join(sorted(busy)) + "). "
                "Restore into an empty database: a restore never mixes two sites."
            )
    tick = (lambda n: progress("restore", n, None)) if progress else None
    if dry_run:
        await kb.db.read(lambda conn: _insert_all(conn, reader, header, report, tick, False))
    else:
        if current != schema:
            if current is not None and _is_ancestor(schema, current):
                await migrate.downgrade(kb.db, schema)
            else:
                await migrate.upgrade(kb.db, schema)
        await kb.db.write(lambda conn: _insert_all(conn, reader, header, report, tick, True))
        await migrate.upgrade(kb.db)
    here = archived_settings(kb.settings)
    for key, value in sorted(dict(header.get("_settings") or {}).items()):
        if key in here and here[key] != value:
            report.settings_differences.append(f"{key}: archive {value!r}, here {here[key]!r}")
    return report


async def restore_file(
    kb: Kibitz,
    path: Path,
    *,
    dry_run: bool = False,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> RestoreReport:
    with path.open("rb") as f:
        return await restore(kb, f, dry_run=dry_run, progress=progress)
