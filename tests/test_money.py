"""Money: minor units per ISO 4217 (zero-decimal JPY, three-decimal KWD), exact parsing,
conversion at a recorded rate, Babel formatting with the site's pattern."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from kibitz import money
from kibitz.payments import ProviderError, limits
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


@pytest.mark.parametrize(
    ("text", "locale", "minor"),
    [
        ("25,50", "de_DE", 2550), ("25.50", "en_US", 2550), ("1.000,00", "de_DE", 100000),
        ("1.660,5", "de_DE", 166050), ("1,660.50", "en_US", 166050), ("25", "de_DE", 2500),
        ("1 234,50", "fr_FR", 123450), ("1'234.50", "de_CH", 123450),
    ],
)  # fmt: skip
def test_amounts_are_read_as_written_in_the_sites_locale(
    text: str, locale: str, minor: int
) -> None:
    assert money.parse_amount(text, "EUR", locale) == minor


@pytest.mark.parametrize(
    ("text", "locale", "why"),
    [
        # a decimal comma in English, a decimal point in German: never read as thousands
        ("25,50", "en_US", "did you mean 2,550 or 25.5"),
        ("25.50", "de_DE", "not an amount as written here"),
        # a separator before three digits could mean either: the reader says which
        ("1.000", "en_US", "ambiguous: write 1,000 or 1.00"),
        ("1,000", "de_DE", "ambiguous: write 1.000 or 1,00"),
        ("12,34,567", "en_US", "not an amount as written here"),
        ("zwanzig", "de_DE", "not an amount (write e.g. 25 or 25,50)"),
        ("25 €", "de_DE", "not an amount"), ("1e3", "de_DE", "not an amount"),
    ],
)  # fmt: skip
def test_amounts_that_could_be_misread_are_refused(text: str, locale: str, why: str) -> None:
    with pytest.raises(money.MoneyError, match=re.escape(why)):
        money.parse_amount(text, "EUR", locale)


def test_three_digits_after_the_point_are_a_fraction_where_the_currency_has_three() -> None:
    assert money.parse_amount("1.000", "KWD") == 1000
    assert money.parse_amount("1,000", "KWD", "de_DE") == 1000


def test_amounts_are_written_back_as_a_reader_types_them() -> None:
    assert money.plain(2500, "USD") == "25.00" and money.plain(2500, "USD", "de_DE") == "25,00"
    assert money.plain(1000, "JPY", "de_DE") == "1000" and money.plain(7120, "KWD") == "7.120"
    for minor, code, locale in ((2550, "EUR", "de_DE"), (123456789, "USD", "en_US")):
        assert money.parse_amount(money.plain(minor, code, locale), code, locale) == minor


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
    assert to_stripe(1230, "KWD") == 1230
    with pytest.raises(ProviderError, match=re.escape("steps of 0.010 KWD")):
        to_stripe(1234, "KWD")  # Stripe takes three-decimal amounts ending in 0 only
    assert to_stripe(500, "ISK") == 50000 and from_stripe(50000, "ISK") == 500  # ISK: 2 at Stripe


def test_card_payments_have_a_floor_and_a_step_per_currency() -> None:
    assert [limits.minimum(c) for c in ("USD", "EUR", "GBP", "JPY", "HUF", "CZK")] == [
        50, 50, 30, 50, 17500, 1500]  # fmt: skip
    assert limits.minimum("KWD") == 1  # none listed: the campaign's own minimum decides
    assert [limits.step(c) for c in ("USD", "JPY", "KWD", "TND", "MGA")] == [1, 1, 10, 10, 100]
