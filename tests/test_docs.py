"""Docs that cannot rot: the reference pages are generated from the code and must be current."""

from __future__ import annotations

import pytest

from kibitz.docs import PAGES, ROOT
from kibitz.settings import env_name, setting_fields


@pytest.mark.parametrize("name", list(PAGES))
def test_generated_page_is_current(name: str) -> None:
    current = (ROOT / name).read_text(encoding="utf-8")
    assert current == PAGES[name](), f"{name} is out of date: run `make docs`"


def test_every_setting_is_documented_with_help() -> None:
    reference = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    example = (ROOT / "kibitz.example.toml").read_text(encoding="utf-8")
    for f in setting_fields():
        assert f.metadata["help"].strip(), f.name
        assert f"`{env_name(f.name)}`" in reference
        assert f"# {f.name} = " in example


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
