"""Every table is in the archive or left out of it on purpose, with a reason: a table added to
kibitz/db/tables.py without a rule in kibitz/backup/rules.py fails here (and `kibitz export`
refuses to run), so nothing is forgotten and no secret slips in unnoticed."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from kibitz.backup import archive
from kibitz.backup.rules import RULES, SENSITIVE, Exclude, Export
from kibitz.db.tables import metadata


def without_rules(meta: MetaData) -> list[str]:
    return [t.name for t in meta.sorted_tables if t.name not in RULES]


def test_every_table_has_a_backup_rule() -> None:
    assert without_rules(metadata) == [], (
        "add a rule for these tables to kibitz/backup/rules.py (Export or Exclude with a "
        "reason) and describe them in docs/backup-format.md"
    )


def test_the_check_notices_a_new_table() -> None:
    meta = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(meta)
    Table("sessions", meta, Column("id", Integer, primary_key=True), Column("token", String(64)))
    assert without_rules(meta) == ["sessions"]


def test_rules_name_only_tables_and_columns_that_exist() -> None:
    for name, rule in RULES.items():
        assert name in metadata.tables, name
        if isinstance(rule, Exclude):
            assert len(rule.reason) > 20
            continue
        table = metadata.tables[name]
        for column in (*rule.omit, *rule.keep):
            assert column in table.columns, f"{name}.{column}"


@pytest.mark.parametrize("name", sorted(n for n, r in RULES.items() if isinstance(r, Export)))
def test_secret_looking_columns_are_decided_on(name: str) -> None:
    rule = RULES[name]
    assert isinstance(rule, Export)
    for column in metadata.tables[name].columns:
        if SENSITIVE.search(column.name):
            assert column.name in rule.omit or column.name in rule.keep, (
                f"{name}.{column.name} looks like a secret: omit it or keep it, with a reason"
            )
        if column.name in rule.omit:  # a restore must be able to leave it out
            assert column.nullable or column.server_default is not None, column.name


def test_every_exported_column_has_an_archive_type() -> None:
    for _table, columns in archive.plan():
        for column in columns:
            assert archive.column_kind(column)


def test_the_format_page_describes_every_table() -> None:
    from kibitz.docs import ROOT

    page = (ROOT / "docs/backup-format.md").read_text("utf-8")
    for name in RULES:
        assert f"`{name}`" in page, name


def test_settings_with_a_login_in_them_stay_out_of_the_archive() -> None:
    from kibitz.settings import Settings

    settings = Settings(webhook_urls=["https://user:pass@hooks.example.org/x"],
                        support_url="https://news.example.org/donate")  # fmt: skip
    kept = archive.archived_settings(settings)
    assert "webhook_urls" not in kept and kept["support_url"] == "https://news.example.org/donate"
    assert "database_url" not in kept and "secret_key" not in kept
