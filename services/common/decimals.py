"""Decimals as text in messages: always plain notation.

`str(Decimal)` switches to scientific notation for some values: PostgreSQL's
`sum` over bigint comes back as Decimal('3.0E+5'), and `normalize()` makes
10 into Decimal('1E+1'). Clients parse these fields as plain decimals.
"""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """`value` in plain notation, its exponent kept: 3000.00 stays "3000.00", 3.0E+3 becomes "3000"."""
    return f"{value:f}"
