"""Bounds and value readers shared by the parts of the program schema (program_schema, program_bonuses). Pure."""

from __future__ import annotations

import re
from decimal import Decimal

from services.common.currencies import is_currency_code, minor_unit_exponent
from services.common.yaml_fields import Section, check_decimal

RULE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_BONUS_POINTS = 10_000_000
# In whole currency units: far above any purchase (the ledger accepts at most 10**13 minor units).
MAX_AMOUNT = Decimal(10**13)


def amount_minor(section: Section, field: str, value: object, currency: str) -> int:
    """A money amount in currency units (e.g. 49.99) as minor units, `field` of `section`; refuses more decimals
    than the currency has."""
    violations = section.violations
    # The currency's minor unit bounds the decimals, checked below with a clearer message.
    amount = check_decimal(violations, field, value, Decimal(0), MAX_AMOUNT, places=None, lenient=section.lenient)
    if not is_currency_code(currency):
        return 0  # the currency itself is refused where it is read
    minor = amount.scaleb(minor_unit_exponent(currency))
    if minor != minor.to_integral_value():
        violations.add(field, f"has more decimals than {currency} allows")
    return int(minor)
