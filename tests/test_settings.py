"""Settings: declared once, read from the environment then kibitz.toml, all problems at once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kibitz.settings import DEV_SECRET, Settings, SettingsError, load_settings


def test_defaults_need_nothing(tmp_path: Path) -> None:
    s = load_settings({"KIBITZ_CONFIG": str(_toml(tmp_path, ""))})
    assert s == Settings()
    assert s.database_url == "sqlite:///kibitz.db" and s.effective_secret == DEV_SECRET


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kibitz.toml"
    path.write_text(text)
    return path


def test_environment_and_file_values_are_parsed_and_the_environment_wins(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        'site_name = "From file"\npage_size = 20\nrequire_email = true\n'
        'allowed_origins = ["https://a.example", "https://b.example"]\nmoderation = "all"\n',
    )
    s = load_settings(
        {"KIBITZ_SITE_NAME": "From env", "KIBITZ_REQUIRE_NAME": "no",
         "KIBITZ_THREAD_URL_PATTERNS": "/20*, /news/*"},
        config_file=path,
    )  # fmt: skip
    assert s.site_name == "From env" and s.page_size == 20 and s.require_email is True
    assert s.require_name is False and s.moderation == "all"
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.thread_url_patterns == ["/20*", "/news/*"]
    assert s.origins == {"http://127.0.0.1:8000", "https://a.example", "https://b.example"}


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            {
                "KIBITZ_PORT": "eighty",
                "KIBITZ_REQUIRE_NAME": "maybe",
                "KIBITZ_MODERATION": "sometimes",
                "KIBITZ_ALLOWED_ORIGINS": "news.example.org",
                "KIBITZ_RATE_LIMITS": "comment.voter=5",
                "KIBITZ_COLOUR": "red",
                "KIBITZ_PAGE_SIZE": "0",
            }
        )
    text = "\n".join(info.value.problems)
    for name in ("KIBITZ_PORT", "KIBITZ_REQUIRE_NAME", "KIBITZ_MODERATION",
                 "KIBITZ_ALLOWED_ORIGINS", "KIBITZ_RATE_LIMITS", "KIBITZ_COLOUR",
                 "KIBITZ_PAGE_SIZE"):  # fmt: skip
        assert name in text
    assert len(info.value.problems) == 7


def test_production_refuses_placeholder_secrets_and_plain_http() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"KIBITZ_ENV": "production", "KIBITZ_SECRET_KEY": DEV_SECRET})
    text = "\n".join(info.value.problems)
    assert "KIBITZ_SECRET_KEY" in text and "KIBITZ_PUBLIC_URL" in text
    ok = load_settings(
        {"KIBITZ_ENV": "production", "KIBITZ_SECRET_KEY": "x" * 40,
         "KIBITZ_PUBLIC_URL": "https://comments.example.org"}
    )  # fmt: skip
    assert ok.cookie_secure


def test_unknown_rate_limit_names_are_refused() -> None:
    with pytest.raises(SettingsError, match=r"unknown limit 'comment\.everyone'"):
        load_settings({"KIBITZ_RATE_LIMITS": "comment.everyone=1/60"})


def test_a_broken_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({}, config_file=_toml(tmp_path, "page_size = = 3"))
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        load_settings({}, config_file=_toml(tmp_path, 'colour = "red"'))
    with pytest.raises(SettingsError, match="not found"):
        load_settings({}, config_file=tmp_path / "missing.toml")


def test_a_retired_setting_still_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _toml(tmp_path, "outbox_max_attempts = 8")
    environ = {"KIBITZ_OUTBOX_MAX_ATTEMPTS": "8", "KIBITZ_CONFIG": str(config)}
    with caplog.at_level(logging.WARNING, logger="kibitz.settings"):
        settings = load_settings(environ)
    assert settings.outbox_give_up_hours == 72
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2 and all("OUTBOX_GIVE_UP_HOURS" in w for w in warned)
