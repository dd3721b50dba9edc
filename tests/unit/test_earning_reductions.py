"""Pricing under rules that reduce earning (multipliers below 1) and campaigns on the lines they reduce, and the
minor units whole currency units are counted in. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.points.domain import LineItem, Money, Purchase
from services.points.earning import price_purchase
from services.points.program_schema import parse_program
from tests.unit.test_earning import points, purchase

EXCLUSIONS = """
id: shop
effective_from: 2025-01-01T00:00:00Z
currency: USD
earning:
  base_rates: {USD: 10}
  rounding: %(rounding)s
  rules:
    - id: no-points-on-gift-cards
      match: {categories: [gift_card]}
      multiplier: 0
    - id: no-points-on-taxes
      match: {categories: [taxes]}
      multiplier: 0
"""


@pytest.mark.parametrize("rounding", ["down", "half_up", "up"])
def test_lines_at_multiplier_zero_under_different_rules_earn_nothing_together(rounding: str) -> None:
    # docs/program.md: "m = 0 takes all of it back (no points on gift cards, taxes)". 25.50 of gift card and 2.50 of
    # tax, 28.00 paid: the base is 280, and the two zero rules must take all 280 back, not 250 + 20.
    exclusions = parse_program(EXCLUSIONS % {"rounding": rounding})
    bought = purchase("28.00", ("GC-25", "gift_card", 1, "25.50"), ("TAX", "taxes", 1, "2.50"))
    decision = price_purchase(exclusions, bought, member_tier="base", earned_today=0)
    assert decision.total == 0, points(decision)


ISO_4217_MINOR_UNITS = """
id: shop
effective_from: 2025-01-01T00:00:00Z
currency: USD
earning:
  base_rates: {USD: 1, IQD: 1, HUF: 1, COP: 1, IDR: 1}
"""


@pytest.mark.parametrize(
    ("currency", "amount_minor", "whole_units"),
    [
        ("IQD", 25_000_000, 25_000),  # ISO 4217: 3 decimals (fils); 25,000.000 IQD
        ("HUF", 1_000_000, 10_000),  # ISO 4217: 2 decimals; 10,000.00 HUF
        ("COP", 5_000_000, 50_000),  # ISO 4217: 2 decimals; 50,000.00 COP
        ("IDR", 10_000_000, 100_000),  # ISO 4217: 2 decimals; 100,000.00 IDR
    ],
)
def test_whole_units_use_the_iso_4217_minor_unit_exponent(currency: str, amount_minor: int, whole_units: int) -> None:
    # docs/program.md: "the minor-unit exponent comes from ISO 4217 data"; common.proto: amount_minor is in the
    # currency's minor unit. Babel's CLDR display digits (0 for all four) are not the ISO 4217 exponent.
    program_ = parse_program(ISO_4217_MINOR_UNITS)
    bought = Purchase("o-1", "m-1", Money(amount_minor, currency), (), datetime(2025, 3, 10, tzinfo=UTC), "web")
    assert price_purchase(program_, bought, member_tier="base", earned_today=0).total == whole_units


@given(
    cents=st.lists(st.integers(0, 100_000), min_size=1, max_size=6),
    rules=st.lists(st.sampled_from(["gift_card", "taxes"]), min_size=6, max_size=6),
    rounding=st.sampled_from(["down", "half_up", "up"]),
)
def test_lines_at_multiplier_zero_however_split_across_rules_earn_nothing(
    cents: list[int], rules: list[str], rounding: str
) -> None:
    # However the amount paid is split between lines of two zero rules, nothing of it earns.
    lines = tuple(LineItem(f"L{n}", rules[n], 1, Money(c, "USD")) for n, c in enumerate(cents))
    bought = Purchase("o-1", "m-1", Money(sum(cents), "USD"), lines, datetime(2025, 3, 10, tzinfo=UTC), "web")
    decision = price_purchase(
        parse_program(EXCLUSIONS % {"rounding": rounding}), bought, member_tier="b", earned_today=0
    )
    assert decision.total == 0, points(decision)


def test_reductions_count_whole_units_over_the_rules_in_file_order() -> None:
    # A rule alone counts its own whole units: x0.5 on the 3 whole units of 3.60 USD takes 15 of 30 points back.
    half = EXCLUSIONS.replace(
        "multiplier: 0\n    - id: no-points-on-taxes", "multiplier: 0.5\n    - id: no-points-on-taxes"
    )
    reduced = parse_program(half % {"rounding": "down"})
    alone = purchase("3.60", ("GC", "gift_card", 1, "3.60"))
    assert points(price_purchase(reduced, alone, member_tier="b", earned_today=0)) == {
        "base": 30,
        "rule:no-points-on-gift-cards": -15,
    }
    # Beside 1.40 of tax at x0: the 0.60 the first rule leaves and the tax's 1.40 make 2 units for the second, so
    # of the 5 units paid 3 earn at x0.5 and 2 at x0: 15 points (each rule on its own units alone left 25).
    both = purchase("5.00", ("GC", "gift_card", 1, "3.60"), ("TAX", "taxes", 1, "1.40"))
    decision = price_purchase(reduced, both, member_tier="b", earned_today=0)
    assert points(decision) == {"base": 50, "rule:no-points-on-gift-cards": -15, "rule:no-points-on-taxes": -20}
    assert "on 2 USD units" in decision.components[2].description


HALF_PRICE_CLEARANCE = """
id: qa-shop
effective_from: 2026-01-01T00:00:00Z
timezone: UTC
currency: USD
earning:
  base_rates: {USD: 1.3}
  rounding: up
  rules:
    - {id: clearance-half, match: {categories: [clearance]}, multiplier: 0.5}
  campaigns:
    - {id: item-double, starts_at: 2026-12-06, ends_at: 2026-12-08, match: {categories: [clearance, electronics]},
       multiplier: 2}
"""


@pytest.mark.parametrize(
    ("lines", "campaign"),
    [
        ([("C-1", "clearance", 1, "101.00")], 66),  # x2 on 0.5 x 1.3 x 101 = 65.65
        ([("C-1", "clearance", 1, "7.00")], 5),  # 0.5 x 1.3 x 7 = 4.55
        ([("C-1", "clearance", 1, "7.00"), ("E-1", "electronics", 1, "9.00")], 17),  # 1.3 x (3.5 + 9) = 16.25
    ],
)
def test_an_item_campaign_on_a_reduced_line_earns_on_that_line_s_reduced_base_unrounded(
    lines: list[tuple[str, str, int, str]], campaign: int
) -> None:
    """docs/program.md: an item campaign applies on every matching line's (possibly reduced) base; the reduced
    base of a line of 101 whole units at 0.5 is 50.5 units' worth, not 50."""
    paid = f"{sum(float(line[3]) for line in lines):.2f}"
    bought = purchase(paid, *lines, at=datetime(2026, 12, 7, 12, tzinfo=UTC))
    decision = price_purchase(parse_program(HALF_PRICE_CLEARANCE), bought, member_tier="", earned_today=0)
    assert points(decision)["campaign:item-double"] == campaign
