"""ISO 4217 currency codes and minor-unit exponents, as every service reads them. Pure, no I/O."""

from __future__ import annotations

import pytest

from services.common.currencies import currency_refusal, is_currency_code, minor_unit_exponent


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("CLF", 4),
        # CLDR (babel) shows these with no decimals; ISO 4217, which amount_minor counts in, gives them some.
        ("IQD", 3),
        ("HUF", 2),
        ("COP", 2),
        ("IDR", 2),
        ("IRR", 2),
        ("LAK", 2),
        ("LBP", 2),
        ("MMK", 2),
        ("YER", 2),
        ("ALL", 2),
        ("AFN", 2),
        ("SOS", 2),
    ],
)
def test_the_exponent_is_iso_4217s(code: str, exponent: int) -> None:
    assert is_currency_code(code)
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize(
    "code",
    [
        # ISO 4217 lists these with no minor unit ("N.A."): funds, metals, testing, no currency. Not paid in.
        "XAU",
        "XAG",
        "XDR",
        "XTS",
        "XXX",
        # Not as the standard writes it.
        "usd",
        "Usd",
        "US",
        "",
    ],
)
def test_codes_without_an_iso_4217_minor_unit_are_no_currency(code: str) -> None:
    assert not is_currency_code(code)
    with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
        minor_unit_exponent(code)


@pytest.mark.parametrize(("code", "exponent"), [("BGN", 2), ("HRK", 2), ("SLL", 0), ("DEM", 2)])
def test_codes_iso_4217_withdrew_are_still_read_with_the_minor_unit_they_were_recorded_in(
    code: str, exponent: int
) -> None:
    """A program version or a purchase stored in BGN (withdrawn in 2026) stays readable and refundable."""
    assert is_currency_code(code)
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("usd", "'usd' must be upper case, as ISO 4217 writes it: 'USD'"),
        ("Eur", "'Eur' must be upper case, as ISO 4217 writes it: 'EUR'"),
        ("XAU", "'XAU' is an ISO 4217 code without a minor unit (a fund, metal or test code), which no amount is in"),
        ("XXX", "'XXX' is an ISO 4217 code without a minor unit (a fund, metal or test code), which no amount is in"),
        ("ABC", "'ABC' is not an ISO 4217 currency code"),
        ("", "'' is not an ISO 4217 currency code"),
    ],
)
def test_a_refused_code_is_told_what_is_wrong_with_it(code: str, reason: str) -> None:
    assert currency_refusal(code) == reason


@pytest.mark.parametrize("code", ["USD", "JPY", "BGN"])
def test_a_currency_code_has_no_refusal(code: str) -> None:
    assert currency_refusal(code) is None
