"""Bounds and value readers shared by the parts of the program schema (program_schema, program_bonuses). Pure."""

from __future__ import annotations

import re
from decimal import Decimal

from services.common.bounds import MAX_AMOUNT_MINOR
from services.common.currencies import is_currency_code, minor_unit_exponent, minor_units, too_many_decimals
from services.common.yaml_fields import Section, check_decimal

RULE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_BONUS_POINTS = 10_000_000


def amount_minor(section: Section, field: str, value: object, currency: str) -> int:
    """A money amount in currency units (e.g. 49.99) as minor units, `field` of `section`; refuses more decimals
    than the currency has, and more than the largest amount of money the services take (MAX_AMOUNT_MINOR minor
    units: an amount a purchase can reach)."""
    violations = section.violations
    known = is_currency_code(currency)  # an unknown currency itself is refused where it is read
    exponent = minor_unit_exponent(currency) if known else 0
    largest = Decimal(MAX_AMOUNT_MINOR // 10**exponent)  # whole: no currency has more than 4 decimals
    # The currency's minor unit bounds the decimals, checked below with a clearer message.
    amount = check_decimal(violations, field, value, Decimal(0), largest, places=None, lenient=section.lenient)
    if not known:
        return 0
    minor = minor_units(amount, currency)
    if minor is None:
        violations.add(field, too_many_decimals(currency))
        return 0
    return minor
