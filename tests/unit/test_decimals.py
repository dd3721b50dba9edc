"""Decimals in messages read as plain decimals, whatever their exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.common.decimals import decimal_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("3.0E+5").scaleb(-2), "3000"),
        (Decimal(300000).scaleb(-2), "3000.00"),
        (Decimal("10").normalize(), "10"),
        (Decimal("0.125"), "0.125"),
        (Decimal("-2.5E-7"), "-0.00000025"),
    ],
)
def test_decimal_text_never_uses_scientific_notation(value: Decimal, text: str) -> None:
    assert decimal_text(value) == text
