"""`kibitz admin ...` as a real process: the first admin of a site, and help for locked-out
moderators; and the password hashing the accounts get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kibitz.services import accounts
from kibitz.settings import SettingsError, load_settings

KIBITZ = str(Path(sys.executable).parent / "kibitz")


def run(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "KIBITZ_DATABASE_URL": f"sqlite:///{tmp}/k.db",
        "KIBITZ_LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [KIBITZ, *args], cwd=tmp, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_admin_accounts_from_the_shell(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    made = run(
        tmp_path,
        "admin",
        "create",
        "ed@example.org",
        "--name",
        "Ed",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert made.returncode == 0 and made.stdout.strip() == "created admin ed@example.org"
    again = run(
        tmp_path,
        "admin",
        "create",
        "ED@example.org",
        "--name",
        "Ed",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert again.returncode == 1 and "There is an account for" in again.stderr
    short = run(
        tmp_path,
        "admin",
        "create",
        "mo@example.org",
        "--name",
        "Mo",
        "--role",
        "moderator",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    assert (
        run(
            tmp_path,
            "admin",
            "create",
            "mo@example.org",
            "--name",
            "Mo",
            "--role",
            "moderator",
            "--password-stdin",
            stdin="another long password\n",
        ).returncode
        == 0
    )
    listed = run(tmp_path, "admin", "list").stdout.splitlines()
    assert listed == ["admin     ed@example.org  Ed", "moderator mo@example.org  Mo"]
    assert (
        run(
            tmp_path,
            "admin",
            "password",
            "mo@example.org",
            "--password-stdin",
            stdin="a brand new password\n",
        ).returncode
        == 0
    )
    assert run(tmp_path, "admin", "reset-totp", "mo@example.org").returncode == 0
    assert run(tmp_path, "admin", "disable", "mo@example.org").returncode == 0
    assert "(disabled)" in run(tmp_path, "admin", "list").stdout
    last = run(tmp_path, "admin", "disable", "ed@example.org")
    assert last.returncode == 1 and "last admin" in last.stderr
    missing = run(
        tmp_path,
        "admin",
        "password",
        "nobody@example.org",
        "--password-stdin",
        stdin="whatever long password\n",
    )
    assert missing.returncode == 1 and "no account" in missing.stderr


def test_passwords_are_hashed_with_argon2id_at_its_recommended_cost() -> None:
    stored = accounts.hasher.hash("a long enough password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "a long enough password" not in stored


def test_a_plugin_that_cannot_be_imported_is_a_settings_problem(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "KIBITZ_MODERATION_PLUGINS": "no_such_module.checks",
                "KIBITZ_MODERATION_OFFENSIVE_THRESHOLD": "101",
            },
            config_file=_empty(tmp_path),
        )
    text = str(caught.value)
    assert "no_such_module.checks" in text and "from 0 to 100" in text


def _empty(tmp: Path) -> Path:
    path = tmp / "kibitz.toml"
    path.write_text("")
    return path


def test_a_readers_data_from_the_shell(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0  # the reference discussion
    import sqlite3

    db = sqlite3.connect(tmp_path / "k.db")
    db.execute("UPDATE comments SET author_email = 'al@example.org' WHERE id = 1")
    db.commit()
    exported = run(tmp_path, "reader", "export", "AL@example.org")
    assert exported.returncode == 0
    assert [c["id"] for c in json.loads(exported.stdout)["comments"]] == [1]
    refused = run(tmp_path, "reader", "erase", "al@example.org", stdin="n\n")
    assert refused.returncode == 1
    erased = run(tmp_path, "reader", "erase", "al@example.org", "--yes")
    assert erased.returncode == 0 and erased.stdout.startswith("erased 1 comments")
    left = db.execute("SELECT count(*) FROM comments WHERE author_email IS NOT NULL").fetchone()
    assert left == (0,)
    db.close()
