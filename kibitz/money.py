"""Money: integer minor units plus an ISO 4217 code, never floats.

An amount is an ``int`` of the currency's minor unit (cents for USD, yen for JPY, fils for
KWD). Parsing, conversion and formatting go through ``Decimal`` and are exact: a value that
does not fit the currency's minor unit is refused, never rounded silently. The only rounding
is in ``convert`` (half to even, on the converted amount) and in ``format_money`` for short
display, which rounds down so that a bar never shows more than was raised.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
    parse_decimal,
    parse_pattern,
)

# ISO 4217 minor units that are not 2. (CLDR, which Babel follows, shows some currencies with
# fewer digits than ISO defines; amounts here follow ISO, the unit banks and Stripe count in.)


def _codes(text: str) -> list[str]:
    return text.split()


EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}
# codes that name no spendable currency (metals, fund codes, testing, "no currency")
NOT_MONEY = frozenset(
    _codes("XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX BOV CHE CHW COU MXV USN USS")
)
CODE_RE = re.compile(r"^[A-Z]{3}$")


class MoneyError(ValueError):
    """An amount, currency or rate that cannot be used as given."""


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def currency(code: str) -> str:
    """The ISO 4217 code, upper case; refuses codes that are not a spendable currency."""
    code = code.strip().upper()
    if not CODE_RE.match(code) or code not in _known() or code in NOT_MONEY:
        raise MoneyError(f"{code or '(empty)'} is not an ISO 4217 currency code")
    return code


def exponent(code: str) -> int:
    """Digits after the decimal point in the currency's minor unit (ISO 4217)."""
    return EXPONENTS.get(currency(code), 2)


def to_decimal(minor: int, code: str) -> Decimal:
    """The amount in major units, exactly: 1660_00 USD -> Decimal('1660.00')."""
    return Decimal(minor).scaleb(-exponent(code))


def parse_amount(
    text: str, code: str, locale: str = "en_US", *, allow_negative: bool = False
) -> int:
    """An amount as a person types it in ``locale``, to minor units of ``code``.

    '1,660.50' in en_US and '1.660,50' in de_DE are both 166050 USD. Babel reads the number
    strictly, so a separator in the wrong place is refused rather than guessed ('25,50' in
    en_US is not 2,550), and so is a point or comma followed by exactly three digits when
    the currency has fewer decimals ('1.000' USD in en_US: a thousand, or one?). Spaces and
    apostrophes may group thousands too. More decimals than the currency has are refused
    ('10.5' JPY), never rounded.
    """
    where = check_locale(locale)
    shown = text.strip()
    decimal_sign = get_decimal_symbol(where)
    group = get_group_symbol(where)
    # spaces and apostrophes group digits in many locales; Babel checks where they stand
    typed = re.sub(r"[\s'\u00a0\u202f\u2019]", group, shown) if shown else shown
    allowed = re.escape(decimal_sign + group)
    if not typed or len(typed) > 40 or re.search(rf"[^\d+\-{allowed}]", typed):
        raise MoneyError(f"{shown or '(empty)'} is not an amount (write e.g. {_example(where)})")
    try:
        value = parse_decimal(typed, where, strict=True)
    except NumberFormatError as exc:
        hint = ""
        if exc.suggestions:
            hint = f"; did you mean {' or '.join(exc.suggestions)}?"
        raise MoneyError(
            f"{shown} is not an amount as written here (write e.g. {_example(where)}){hint}"
        ) from None
    if not value.is_finite():
        raise MoneyError(f"{shown} is not an amount (write e.g. {_example(where)})")
    digits = exponent(code)
    whole, point, fraction = typed.lstrip("+-").rpartition(decimal_sign)
    if point and len(fraction) == 3 and digits < 3 and re.fullmatch(r"[1-9]\d{0,2}", whole):
        places = f"{digits} decimal places" if digits else "whole units"
        raise MoneyError(
            f"{shown} is ambiguous: write "
            f"{format_decimal(value * 1000, '#,##0', locale=where)} or "
            f"{format_decimal(value, '0.' + '0' * digits if digits else '0', locale=where)} "
            f"({currency(code)} amounts have {places})"
        )
    if value != value.quantize(Decimal(1).scaleb(-digits)):
        unit = "whole units" if digits == 0 else f"{digits} decimal places"
        raise MoneyError(f"{shown}: {currency(code)} amounts have {unit}")
    minor = int(value.scaleb(digits))
    if minor < 0 and not allow_negative:
        raise MoneyError(f"{shown}: the amount must not be negative")
    return minor


def _example(where: Locale) -> str:
    return " or ".join(format_decimal(Decimal(v), "0.00" if "." in v else "0", locale=where)
                       for v in ("25", "25.50"))  # fmt: skip


def plain(minor: int, code: str, locale: str = "en_US") -> str:
    """The amount as a person would type it back in ``locale``, every minor digit and no
    grouping or sign: '25.00' (en_US), '25,00' (de_DE), '1000' JPY. ``parse_amount`` reads it."""
    digits = exponent(code)
    pattern = "0." + "0" * digits if digits else "0"
    return format_decimal(to_decimal(minor, code), pattern, locale=check_locale(locale))


def parse_rate(text: str) -> str:
    """An exchange rate as a positive decimal string, normalised ('1.0800' -> '1.08').

    Stored as text on the ledger entry so the exact figure used can always be read back.
    """
    try:
        rate = Decimal(text.strip())
    except InvalidOperation:
        raise MoneyError(f"{text.strip() or '(empty)'} is not an exchange rate") from None
    if not rate.is_finite() or rate <= 0:
        raise MoneyError(f"{text.strip()}: an exchange rate must be a positive number")
    if len(rate.as_tuple().digits) > 18:
        raise MoneyError(f"{text.strip()}: at most 18 significant digits")
    normal = format(rate.normalize(), "f")
    return normal


def convert(minor: int, from_code: str, to_code: str, rate: str) -> int:
    """``minor`` of ``from_code`` in minor units of ``to_code``, where one major unit of
    ``from_code`` is worth ``rate`` major units of ``to_code``; rounded half to even once."""
    with localcontext() as ctx:
        ctx.prec = 50
        value = to_decimal(minor, from_code) * Decimal(rate)
        scaled = value.scaleb(exponent(to_code))
        return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def check_locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise MoneyError(f"{name!r} is not a locale Babel knows (e.g. en_US, de_DE)") from None


def check_pattern(pattern: str) -> str:
    try:
        parse_pattern(pattern)
    except (ValueError, TypeError) as exc:
        raise MoneyError(f"{pattern!r} is not a number pattern: {exc}") from None
    if "\u00a4" not in pattern:
        raise MoneyError(f"{pattern!r} has no currency sign (¤)")
    return pattern


def format_money(
    minor: int, code: str, locale: str = "en_US", pattern: str = "#,##0 \u00a4",
    *, exact: bool = False,
) -> str:  # fmt: skip
    """Format with Babel in the site's locale and pattern ('#,##0 ¤' gives '2,500 $').

    ``exact`` shows every minor digit of the currency (receipts, the ledger); otherwise the
    pattern decides, and anything finer is rounded down.
    """
    value = to_decimal(minor, code)
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        return format_currency(
            value, currency(code), format=pattern, locale=check_locale(locale),
            currency_digits=exact,
        )  # fmt: skip


def pattern_digits(pattern: str) -> int:
    """How many fraction digits the pattern shows at most."""
    return int(parse_pattern(pattern).frac_prec[1])
