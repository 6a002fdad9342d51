"""What a card payment through the provider can be: the smallest charge in each currency,
and the step amounts go in.

Stripe's rules (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts and
#three-decimal): a charge below the currency's minimum fails, and the three-decimal
currencies (BHD, JOD, KWD, OMR, TND) take only amounts whose last digit is 0, so 7.125 KWD
cannot be charged but 7.120 can. Kibitz refuses such amounts on its own donation page, and
refuses a campaign minimum below the floor when it is set, rather than send the reader to a
payment page that fails.
"""

from __future__ import annotations

from decimal import Decimal

from kibitz import money

# Stripe's own minor units where they differ from ISO 4217 (docs.stripe.com/currencies)
STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())  # noqa: SIM905

# The smallest charge Stripe takes, in major units; other currencies have none listed
# (Stripe asks for the equivalent of 0.50 USD, which only a rate of the day could tell).
MINIMUM_CHARGE = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50",
    "CAD": "0.50", "CHF": "0.50", "CZK": "15.00", "DKK": "2.50", "EUR": "0.50",
    "GBP": "0.30", "HKD": "4.00", "HUF": "175.00", "INR": "0.50", "JPY": "50",
    "MXN": "10", "MYR": "2", "NOK": "3.00", "NZD": "0.50", "PLN": "2.00", "RON": "2.00",
    "SEK": "3.00", "SGD": "0.50", "THB": "10",
}  # fmt: skip


def stripe_exponent(code: str) -> int:
    """Digits after the point in Stripe's amounts (ISK: 0 in ISO 4217, 2 at Stripe)."""
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    return 3 if code in STRIPE_THREE_DECIMAL else 2


def minimum(code: str) -> int:
    """The smallest card payment, in minor units (ISO 4217) of ``code``; 1 where none is
    listed."""
    code = money.currency(code)
    floor = MINIMUM_CHARGE.get(code)
    return int(Decimal(floor).scaleb(money.exponent(code))) if floor else 1


def step(code: str) -> int:
    """Card payments in ``code`` are a multiple of this many minor units (ISO 4217)."""
    code = money.currency(code)
    if code in STRIPE_THREE_DECIMAL:
        return 10
    return int(10 ** max(0, money.exponent(code) - stripe_exponent(code)))
