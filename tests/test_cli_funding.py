"""Funding from the shell, as a publisher runs it: a real process on a real database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import run


def test_a_campaign_manual_entries_a_csv_import_and_reports(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    made = run(tmp_path, "campaign", "create", "monthly", "--name", "Keep us going",
               "--goal", "5000", "--currency", "USD", "--start", "2021-06")  # fmt: skip
    assert made.returncode == 0, made.stderr
    added = run(tmp_path, "ledger", "add", "monthly", "--amount", "120", "--date", "2021-06-03",
                "--method", "bank_transfer", "--name", "Jo", "--email", "jo@example.org",
                "--reference", "bank-77")  # fmt: skip
    assert added.returncode == 0 and "recorded entry #1" in added.stdout
    again = run(tmp_path, "ledger", "add", "monthly", "--amount", "120", "--date", "2021-06-03",
                "--reference", "bank-77")  # fmt: skip
    assert "already recorded" in again.stdout
    converted = run(tmp_path, "ledger", "add", "monthly", "--amount", "20", "--currency", "EUR",
                    "--date", "2021-06-04", "--method", "paypal")  # fmt: skip
    assert converted.returncode == 1 and "needs the rate" in converted.stderr
    csv = tmp_path / "gifts.csv"
    csv.write_text("date,amount,method,reference\n2021-06-05,30,cash,C1\n2021-06-06,x,cash,C2\n")
    dry = run(tmp_path, "ledger", "import", "monthly", str(csv), "--dry-run")
    assert dry.returncode == 1
    assert "would add 1 entries" in dry.stdout and "line 3: amount" in dry.stderr
    done = run(tmp_path, "ledger", "import", "monthly", str(csv))
    assert "added 1 entries" in done.stdout and "2021-06: +30.00 $" in done.stdout
    shown = run(tmp_path, "campaign", "show", "monthly", "--period", "2021-06")
    assert "150 $ raised of 5,000 $ goal, June 2021" in shown.stdout
    refund = run(tmp_path, "ledger", "add", "monthly", "--kind", "refund", "--amount", "20",
                 "--reverses", "1", "--date", "2021-07-02")  # fmt: skip
    assert refund.returncode == 0, refund.stderr
    report = run(tmp_path, "funding", "report", "monthly", "--chart", str(tmp_path / "m.svg"))
    assert "150.00 $" in report.stdout and "-20.00 $" in report.stdout
    assert (tmp_path / "m.svg").read_text().startswith("<svg")
    donors = run(tmp_path, "funding", "donors")
    assert "Jo <jo@example.org>  1 gifts, 100.00 $" in donors.stdout
    exported = run(tmp_path, "ledger", "export")
    header, *lines = exported.stdout.splitlines()
    assert header.startswith("id,campaign,kind,date") and len(lines) == 3
    assert "jo@example.org" in exported.stdout


def test_check_reports_a_total_that_drifted_from_the_ledger(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0
    ok = run(tmp_path, "check")
    assert ok.returncode == 0 and "funding: cached totals match the ledger" in ok.stdout
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute("UPDATE campaign_totals SET raised = raised + 100")
    drifted = run(tmp_path, "check")
    assert drifted.returncode == 1
    assert "southfront 2021-06: cached total 166100" in drifted.stdout
    assert "ledger says 166000" in drifted.stdout
    fixed = run(tmp_path, "funding", "recount")
    assert "1 were wrong" in fixed.stdout
    assert run(tmp_path, "check").returncode == 0


def test_the_ledger_refuses_changes_even_from_a_database_shell(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0
    with sqlite3.connect(tmp_path / "k.db") as db:
        for sql in ("UPDATE ledger_entries SET amount = 1", "DELETE FROM ledger_entries"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)


def test_check_fails_while_a_payment_event_needs_a_person(tmp_path: Path) -> None:
    assert run(tmp_path, "demo").returncode == 0
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute(
            "INSERT INTO provider_events (provider, event_id, type, livemode, created_at, "
            "received_at, outcome, reason) VALUES ('stripe', 'evt_9', 'charge.refunded', 0, "
            "'2021-06-20 10:00:00', '2021-06-20 10:00:00', 'needs_attention', "
            "'refund stripe:refund:ch_9:2000 of 20.00 € (EUR) reverses donation #3, which is "
            "in USD: not recorded')"
        )
    failed = run(tmp_path, "check")
    assert failed.returncode == 1, failed.stdout
    assert "funding: charge.refunded evt_9 (received 2021-06-20) needs a person: refund" in (
        failed.stdout)  # fmt: skip
    assert "1 payment event(s) need attention" in failed.stdout
    assert "funding: cached totals match the ledger" in failed.stdout  # the totals are fine
    handled = run(tmp_path, "funding", "handled", "evt_9", "--note", "refunded by hand")
    assert handled.returncode == 0 and "marked handled" in handled.stdout
    assert run(tmp_path, "check").returncode == 0
    unknown = run(tmp_path, "funding", "handled", "evt_9")
    assert unknown.returncode == 1 and "No event 'evt_9' is waiting" in unknown.stderr


def test_a_campaign_minimum_below_what_cards_can_pay_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    low = run(tmp_path, "campaign", "create", "m", "--name", "Us", "--goal", "5000",
              "--currency", "EUR", "--min", "0.20", "--suggested", "1,5")  # fmt: skip
    assert low.returncode == 1 and "at least 0.50 €" in low.stderr
    comma = run(tmp_path, "campaign", "create", "m", "--name", "Us", "--goal", "5000,50",
                "--currency", "EUR")  # fmt: skip
    assert comma.returncode == 1 and "did you mean" in comma.stderr  # never 500,050 €
    made = run(tmp_path, "campaign", "create", "m", "--name", "Us", "--goal", "5,000",
               "--currency", "EUR", "--min", "0.50", "--suggested", "1,5")  # fmt: skip
    assert made.returncode == 0, made.stderr
    goal = run(tmp_path, "campaign", "update", "m", "--goal", "6000")
    assert goal.returncode == 0
