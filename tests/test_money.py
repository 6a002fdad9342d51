"""Money: minor units per ISO 4217 (zero-decimal JPY, three-decimal KWD), exact parsing,
conversion at a recorded rate, Babel formatting with the site's pattern."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kibitz import money
from kibitz.payments.stripe_provider import from_stripe, to_stripe


@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("1,660.50", "USD", 166050), ("25", "USD", 2500), ("0.01", "EUR", 1),
        ("1000", "JPY", 1000), ("1,000", "JPY", 1000), ("10.00", "JPY", 10),
        ("1.234", "KWD", 1234), ("0.001", "KWD", 1), ("12", "KWD", 12000),
        ("1 234,5".replace(",", "."), "EUR", 123450), (" 7.10 ", "usd", 710),
    ],
)  # fmt: skip
def test_amounts_parse_to_exact_minor_units(text: str, code: str, minor: int) -> None:
    assert money.parse_amount(text, code) == minor


@pytest.mark.parametrize(
    ("text", "code", "why"),
    [
        ("10.5", "JPY", "whole units"), ("1.2345", "KWD", "3 decimal places"),
        ("0.005", "USD", "2 decimal places"), ("abc", "USD", "not an amount"),
        ("-5", "USD", "negative"), ("", "USD", "not an amount"), ("1e3", "USD", "not an amount"),
        ("NaN", "USD", "not an amount"),
    ],
)  # fmt: skip
def test_amounts_that_do_not_fit_the_currency_are_refused(text: str, code: str, why: str) -> None:
    with pytest.raises(money.MoneyError, match=why):
        money.parse_amount(text, code)


def test_currency_codes_are_checked() -> None:
    assert money.currency("usd") == "USD"
    assert (money.exponent("JPY"), money.exponent("KWD"), money.exponent("USD")) == (0, 3, 2)
    for bad in ("US", "XAU", "XXX", "ABC", ""):
        with pytest.raises(money.MoneyError):
            money.currency(bad)


def test_minor_units_read_back_exactly() -> None:
    assert money.to_decimal(166050, "USD") == Decimal("1660.50")
    assert money.to_decimal(1000, "JPY") == Decimal("1000")
    assert money.to_decimal(1234, "KWD") == Decimal("1.234")


def test_conversion_uses_the_recorded_rate_and_rounds_once_half_to_even() -> None:
    assert money.convert(2000, "EUR", "USD", "1.2175") == 2435  # 20 EUR -> 24.35 USD
    assert money.convert(1000, "JPY", "USD", "0.0091") == 910  # 1000 JPY -> 9.10 USD
    assert money.convert(1000, "USD", "JPY", "110.25") == 1102  # 10 USD -> 1102.5 -> 1102
    assert money.convert(1500, "USD", "KWD", "0.30125") == 4519  # 4.51875 KWD -> 4.519
    assert money.convert(1234, "KWD", "USD", "3.3") == 407  # 1.234 KWD -> 4.0722 USD
    assert money.convert(-2000, "EUR", "USD", "1.2175") == -2435
    # many small conversions never drift: each entry is converted once, then summed as ints
    assert sum(money.convert(1, "KWD", "JPY", "0.5") for _ in range(3)) == 0


def test_rates_are_kept_as_exact_decimal_strings() -> None:
    assert money.parse_rate("1.0800") == "1.08"
    assert money.parse_rate("0.000000123") == "0.000000123"
    for bad in ("0", "-1", "x", "inf", "1" * 20):
        with pytest.raises(money.MoneyError):
            money.parse_rate(bad)


def test_formatting_follows_the_reference_pattern_and_the_locale() -> None:
    assert money.format_money(250000, "USD") == "2,500 $"
    assert money.format_money(166099, "USD") == "1,660 $"  # a bar never shows more than raised
    assert money.format_money(166050, "USD", exact=True) == "1,660.50 $"
    assert money.format_money(250000, "JPY") == "250,000 ¥"
    assert money.format_money(250000, "JPY", exact=True) == "250,000 ¥"
    assert money.format_money(1234, "KWD", exact=True) == "1.234 KWD"
    assert money.format_money(250000, "EUR", "de_DE") == "2.500 €"
    assert money.format_money(250000, "USD", "en_US", "¤#,##0.00") == "$2,500.00"


def test_stripe_amounts_follow_stripes_own_minor_units() -> None:
    assert to_stripe(2500, "USD") == 2500 and from_stripe(2500, "USD") == 2500
    assert to_stripe(1000, "JPY") == 1000 and from_stripe(1000, "JPY") == 1000
    assert to_stripe(1234, "KWD") == 1234
    assert to_stripe(500, "ISK") == 50000 and from_stripe(50000, "ISK") == 500  # ISK: 2 at Stripe
