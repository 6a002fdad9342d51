"""Importing gifts made outside kibitz from CSV: every bad line reported with its number and
left out, the good ones recorded, a dry run that records nothing, a second import that adds
nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from kibitz.services import funding
from kibitz.services import ledger as led
from kibitz.services.errors import Invalid
from kibitz.services.ledger_import import import_csv
from tests.funding_factories import JUNE, make_campaign

HEADER = "date,amount,currency,rate,kind,reverses,method,name,email,public_name,message,reference"
GOOD_AND_BAD = f"""\ufeff{HEADER}
2021-06-02,50,,,,,bank_transfer,Jo Doe,jo@example.org,Jo,Keep it up,T-1
2021-06-03,"1,000.00",,,,,paypal,,,,,T-2
2021-06-04,20,EUR,1.2175,,,bank_transfer,,,,,T-3
2021-06-05,12.345,,,,,paypal,,,,,T-4
2021-06-06,10,EUR,,,,bank_transfer,,,,,T-5
2021-06-31,10,,,,,cash,,,,,T-6
2021-06-07,10,,,,,cash,,not-an-address,,,T-7
2021-06-08,-5,,,,,cash,,,,,T-8
2021-06-09,300,,,refund,T-2,paypal,,,,,T-9
2021-06-10,10,,,refund,T-404,,,,,,T-10
2021-06-11,-15.50,,,adjustment,,,,,,,T-11
2021-06-12,25,,,,,carrier_pigeon,,,,,T-12

2021-06-13,5,,,,,cash,,,,,
2021-06-13,5,,,,,cash,,,,,
"""


async def raised(kb: Any) -> int:
    bar = await funding.bar(kb, "support", "2021-06", now=JUNE)
    assert bar is not None
    return bar.raised


async def test_bad_lines_are_reported_and_the_rest_recorded(kb: Any) -> None:
    await make_campaign(kb)
    report = await import_csv(kb, "support", GOOD_AND_BAD)
    assert report.added == 7 and report.already == 0
    rejected = dict(report.rejected)
    assert sorted(rejected) == [5, 6, 7, 8, 9, 11, 13]  # line numbers as an editor shows them
    assert "2 decimal places" in rejected[5]
    assert "needs the rate" in rejected[6]
    assert "YYYY-MM-DD" in rejected[7]
    assert "not an e-mail address" in rejected[8]
    assert "only an adjustment may be negative" in rejected[9]
    assert "T-404" in rejected[11]
    assert "method" in rejected[13]
    expected = 5000 + 100000 + 2435 - 30000 - 1550 + 500 + 500
    assert await raised(kb) == expected and report.by_period == {"2021-06": expected}
    entries = await kb.db.read(lambda conn: led.entries(conn))
    assert {e.source for e in entries} == {"csv"}
    jo = entries[0]
    assert (jo.donor_name, jo.donor_email, jo.public_name, jo.message) == (
        "Jo Doe", "jo@example.org", "Jo", "Keep it up")  # fmt: skip


async def test_a_dry_run_checks_everything_and_records_nothing(kb: Any) -> None:
    await make_campaign(kb)
    dry = await import_csv(kb, "support", GOOD_AND_BAD, dry_run=True)
    assert dry.dry_run and dry.added == 7 and len(dry.rejected) == 7
    assert await kb.db.read(lambda conn: led.entries(conn)) == []
    assert await raised(kb) == 0
    real = await import_csv(kb, "support", GOOD_AND_BAD)
    assert (real.added, real.rejected) == (dry.added, dry.rejected)


async def test_importing_the_same_file_again_adds_nothing(kb: Any) -> None:
    await make_campaign(kb)
    first = await import_csv(kb, "support", GOOD_AND_BAD)
    again = await import_csv(kb, "support", GOOD_AND_BAD)
    assert again.added == 0 and again.already == first.added
    assert len(await kb.db.read(lambda conn: led.entries(conn))) == first.added


async def test_semicolons_and_a_minimal_header_work_too(kb: Any) -> None:
    await make_campaign(kb)
    report = await import_csv(kb, "support", "Date;Amount\n2021-06-02;7.50\n2021-06-03;2\n")
    assert report.added == 2 and await raised(kb) == 950


@pytest.mark.parametrize(
    ("text", "why"),
    [("amount\n5\n", "needs the columns date"), ("date,amount,colour\n", "Unknown columns")],
)
async def test_a_file_without_the_needed_columns_is_refused_whole(
    kb: Any, text: str, why: str
) -> None:
    await make_campaign(kb)
    with pytest.raises(Invalid, match=why):
        await import_csv(kb, "support", text)
