"""ISO 4217 currency codes and their minor units, as every service reads them.

The data is ISO 4217's own table (the maintenance agency's list of current
codes, shipped by the `iso4217` package), not CLDR's: CLDR gives the digits
a currency is usually *shown* with, which for IQD (ISO 4217: 3), HUF, COP,
IDR and others (ISO 4217: 2) is 0. Amounts in minor units (Money.amount_minor)
count ISO 4217 minor units, so a wrong exponent would price such a purchase
100 or 1000 times too high.

Only codes with a numeric minor unit are currencies here: the funds and
metals ISO 4217 lists with "N.A." (XAU, XDR, XTS, XXX, ...) are no currency a
purchase is paid in. Codes ISO 4217 no longer lists (BGN since the euro came
to Bulgaria in 2026, HRK, SLL, ...) are still read, with the minor unit CLDR
gives them, as they were before ISO 4217's table was used: stored program
versions and purchases name them, and must stay readable and refundable.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from types import MappingProxyType

from babel.numbers import get_currency_precision, list_currencies
from iso4217 import Currency

_CURRENT = {currency.code: currency.exponent for currency in Currency if currency.exponent is not None}
_NO_MINOR_UNIT = {currency.code for currency in Currency if currency.exponent is None}
_WITHDRAWN = {code: get_currency_precision(code) for code in list_currencies() - _CURRENT.keys() - _NO_MINOR_UNIT}
# Built once: the lookups run on every priced purchase, thousands a second.
_EXPONENTS: Mapping[str, int] = MappingProxyType(_WITHDRAWN | _CURRENT)


def is_currency_code(code: str) -> bool:
    """An ISO 4217 code with a minor unit, current or withdrawn, in upper case as the standard writes it."""
    return code in _EXPONENTS


def currency_refusal(code: str) -> str | None:
    """Why `code` is no currency, starting with the code as given; None for a currency code."""
    if code in _EXPONENTS:
        return None
    if code.upper() in _EXPONENTS:
        return f"{code!r} must be upper case, as ISO 4217 writes it: {code.upper()!r}"
    if code.upper() in _NO_MINOR_UNIT:
        return f"{code!r} is an ISO 4217 code without a minor unit (a fund, metal or test code), which no amount is in"
    return f"{code!r} is not an ISO 4217 currency code"


def minor_unit_exponent(code: str) -> int:
    """The ISO 4217 minor-unit exponent of `code`: 2 for USD (cents), 0 for JPY, 3 for BHD and IQD.

    Raises ValueError for a code `is_currency_code` refuses: callers check the code first.
    """
    try:
        return _EXPONENTS[code]
    except KeyError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None


def minor_units(amount: Decimal, code: str) -> int | None:
    """`amount`, in units of currency `code`, in its minor units (1.99 USD is 199); None when it has more decimals
    than the currency has (0.5 JPY, 1.0001 USD). Raises ValueError for a code `is_currency_code` refuses."""
    exponent = minor_unit_exponent(code)
    # As many digits as the amount has: in the default 28, 1.0000000000000000000000000001 would round to 1.00.
    with localcontext(prec=len(amount.as_tuple().digits) + exponent):
        minor = amount.scaleb(exponent)
    return int(minor) if minor == minor.to_integral_value() else None


def too_many_decimals(code: str) -> str:
    """Why an amount finer than the minor unit of currency `code` is refused, following the amount or its field."""
    return f"has more decimals than {code} allows"
