"""Pricing purchases under a program: base, rules, campaigns, tier bonus, caps, rounding. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.points.domain import LineItem, Money, Purchase
from services.points.earning import EarnDecision, price_purchase
from services.points.program import Program
from services.points.program_schema import parse_program

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "programs"
JULY_4 = datetime(2025, 7, 4, 15, tzinfo=UTC)

PROGRAM = """
id: shop
effective_from: 2025-01-01T00:00:00Z
timezone: America/New_York
currency: USD
earning:
  base_rates: {USD: 2, EUR: 1.5, JPY: 0.02}
  rounding: %(rounding)s
  rules:
    - id: gift-cards
      match: {categories: [gift_card]}
      multiplier: 0
    - id: shoes
      match: {categories: [shoes]}
      multiplier: 3
    - id: socks
      match: {skus: [SOCK-1]}
      bonus_points: 10
      per: unit
    - id: app
      match: {channels: [app]}
      multiplier: 1.5
    - id: big-basket
      match: {min_spend: 100}
      bonus_points: 50
  campaigns:
    - id: july-4
      starts_at: 2025-07-04
      ends_at: 2025-07-04
      multiplier: 2
    - id: summer-shoes
      starts_at: 2025-06-01
      ends_at: 2025-08-31
      match: {categories: [shoes]}
      bonus_points: 25
  %(caps)s
tiers:
  window: calendar_year
  levels:
    - {name: base, threshold: 0}
    - {name: gold, threshold: 1000, earn_bonus_percent: 25}
expiry: {months_after_earning: 12}
pending: {days: 30}
"""


def program(*, rounding: str = "down", caps: str = "") -> Program:
    return parse_program(PROGRAM % {"rounding": rounding, "caps": caps})


def purchase(
    amount: str = "10.00",
    *lines: tuple[str, str, int, str],
    currency: str = "USD",
    at: datetime = datetime(2025, 3, 10, 12, tzinfo=UTC),
    channel: str = "web",
) -> Purchase:
    def minor(text: str) -> int:
        return round(float(text) * (1 if currency == "JPY" else 100))

    items = tuple(
        LineItem(sku, category, quantity, Money(minor(price), currency)) for sku, category, quantity, price in lines
    )
    return Purchase("order-1", "m-1", Money(minor(amount), currency), items, at, channel)


def points(decision: EarnDecision) -> dict[str, int]:
    return {c.source: c.points for c in decision.components}


def price(bought: Purchase, *, tier: str | None = "base", earned_today: int = 0, **options: str) -> EarnDecision:
    return price_purchase(program(**options), bought, member_tier=tier, earned_today=earned_today)


def test_base_earns_on_whole_currency_units_only() -> None:
    decision = price(purchase("42.99"))
    assert points(decision) == {"base": 84}
    assert decision.total == 84
    assert decision.components[0].description == "2 points per USD on 42 whole units"


def test_decimal_rates_round_each_component_down_by_default() -> None:
    assert points(price(purchase("9.99", currency="EUR"))) == {"base": 13}  # 1.5 x 9 = 13.5
    assert points(price(purchase("1999", currency="JPY"))) == {"base": 39}  # 0.02 x 1999 = 39.98


@pytest.mark.parametrize(("rounding", "expected"), [("down", 13), ("half_up", 14), ("up", 14)])
def test_the_rounding_rule_is_the_programs(rounding: str, expected: int) -> None:
    assert price(purchase("9.99", currency="EUR"), rounding=rounding).total == expected


def test_a_category_multiplier_adds_the_extra_rate_on_its_lines() -> None:
    decision = price(purchase("80.00", ("S-1", "shoes", 1, "50.00"), ("T-1", "tops", 1, "30.00")))
    assert points(decision) == {"base": 160, "rule:shoes": 200}  # (3 - 1) x 2 x 50


def test_a_sku_bonus_per_unit_counts_the_quantity() -> None:
    decision = price(purchase("12.00", ("SOCK-1", "socks", 3, "4.00")))
    assert points(decision) == {"base": 24, "rule:socks": 30}


def test_fixed_bonuses_earn_nothing_on_what_was_not_paid() -> None:
    # A free order, and a free line beside a paid one: no bonus for items given away.
    assert price(purchase("0.00", ("SOCK-1", "socks", 4, "4.00"))).total == 0
    free_socks = price(purchase("10.00", ("T-1", "tops", 1, "10.00"), ("SOCK-1", "socks", 3, "0.00")))
    assert points(free_socks) == {"base": 20}


def test_a_zero_multiplier_takes_the_base_of_its_lines_back() -> None:
    decision = price(purchase("70.00", ("GC-50", "gift_card", 1, "50.00"), ("T-1", "tops", 1, "20.00")))
    assert points(decision) == {"base": 140, "rule:gift-cards": -100}
    assert decision.total == 40


@pytest.mark.parametrize("rounding", ["down", "half_up", "up"])
def test_a_zero_multiplier_takes_back_everything_its_lines_earn_whatever_the_rounding(rounding: str) -> None:
    # 1.5 points per EUR on one gift-card euro: a base of 1.5 rounded up to 2 must not leave a point behind.
    decision = price(purchase("1.00", ("GC", "gift_card", 1, "1.00"), currency="EUR"), rounding=rounding)
    assert decision.total == 0
    assert points(decision)["rule:gift-cards"] == -points(decision)["base"]


@pytest.mark.parametrize(("rounding", "expected"), [("down", 1), ("half_up", 2), ("up", 2)])
def test_the_reduced_base_is_rounded_once_like_the_base(rounding: str, expected: int) -> None:
    # 2 EUR, 1 of it on a gift card: the earned base is exactly 1.5, rounded by the program's rule.
    bought = purchase("2.00", ("GC", "gift_card", 1, "1.00"), ("T", "tops", 1, "1.00"), currency="EUR")
    decision = price(bought, rounding=rounding)
    assert points(decision) == {"base": 3, "rule:gift-cards": expected - 3}
    assert decision.total == expected


def test_each_line_takes_only_its_first_matching_item_rule() -> None:
    shop = parse_program(
        PROGRAM.replace("match: {categories: [gift_card]}", "match: {categories: [gift_card, shoes]}")
        % {"rounding": "down", "caps": ""}
    )
    decision = price_purchase(shop, purchase("50.00", ("S-1", "shoes", 1, "50.00")), member_tier="base", earned_today=0)
    assert points(decision) == {"base": 100, "rule:gift-cards": -100}


def test_channel_multiplier_applies_to_the_earned_base() -> None:
    decision = price(purchase("70.00", ("GC-50", "gift_card", 1, "50.00"), ("T", "tops", 1, "20.00"), channel="app"))
    assert points(decision) == {"base": 140, "rule:gift-cards": -100, "rule:app": 20}  # 0.5 x (140 - 100)


def test_minimum_spend_bonus_applies_from_the_threshold() -> None:
    assert "rule:big-basket" not in points(price(purchase("99.99")))
    assert points(price(purchase("100.00")))["rule:big-basket"] == 50


def test_minimum_spend_in_a_currency_the_rule_names_no_amount_for_does_not_qualify() -> None:
    assert "rule:big-basket" not in points(price(purchase("1000.00", currency="EUR")))


def test_campaign_inside_its_window_doubles_the_base() -> None:
    decision = price(purchase("10.00", at=JULY_4))
    assert points(decision) == {"base": 20, "campaign:july-4": 20}


def test_campaign_window_is_the_program_local_day() -> None:
    # 03:59 UTC on 5 July is still 4 July in New York; 04:00 is not.
    assert "campaign:july-4" in points(price(purchase("10.00", at=datetime(2025, 7, 5, 3, 59, tzinfo=UTC))))
    assert "campaign:july-4" not in points(price(purchase("10.00", at=datetime(2025, 7, 5, 4, tzinfo=UTC))))
    assert "campaign:july-4" not in points(price(purchase("10.00", at=datetime(2025, 7, 4, 3, 59, tzinfo=UTC))))


def test_campaigns_add_to_rules() -> None:
    decision = price(purchase("50.00", ("S-1", "shoes", 2, "25.00"), at=JULY_4))
    assert points(decision) == {
        "base": 100,
        "rule:shoes": 200,
        "campaign:july-4": 100,
        "campaign:summer-shoes": 25,
    }


def test_tier_bonus_is_a_percentage_of_the_earned_base() -> None:
    decision = price(purchase("100.00", ("S-1", "shoes", 1, "100.00")), tier="gold")
    assert points(decision) == {"base": 200, "rule:shoes": 400, "rule:big-basket": 50, "tier_bonus:gold": 50}
    assert decision.components[-1].description == "gold tier: 25% of 200 base points"


def test_no_tier_to_price_by_earns_no_tier_bonus() -> None:
    """A member whose tier matches none of the pricing version's (tiers.priced_tier)."""
    decision = price(purchase("100.00", ("S-1", "shoes", 1, "100.00")), tier=None)
    assert points(decision) == {"base": 200, "rule:shoes": 400, "rule:big-basket": 50}


def test_a_tier_the_program_does_not_know_earns_no_bonus() -> None:
    assert points(price(purchase("10.00"), tier="platinum")) == {"base": 20}


def test_per_purchase_cap_is_applied_after_everything() -> None:
    decision = price(purchase("100.00", ("S-1", "shoes", 1, "100.00")), tier="gold", caps="caps: {per_purchase: 500}")
    assert points(decision)["cap:per_purchase"] == -200
    assert decision.total == 500


def test_per_day_cap_counts_what_was_earned_earlier_that_day() -> None:
    capped = "caps: {per_day: 100}"
    assert points(price(purchase("40.00"), earned_today=30, caps=capped)) == {"base": 80, "cap:per_day": -10}
    assert price(purchase("40.00"), earned_today=150, caps=capped).total == 0
    assert points(price(purchase("40.00"), earned_today=0, caps=capped)) == {"base": 80}


def test_both_caps_apply_in_order() -> None:
    decision = price(purchase("100.00"), earned_today=90, caps="caps: {per_purchase: 150, per_day: 200}")
    assert points(decision) == {"base": 200, "rule:big-basket": 50, "cap:per_purchase": -100, "cap:per_day": -40}
    assert decision.total == 110


def test_discounted_lines_earn_on_what_was_paid() -> None:
    # Lines list 100.00 of shoes, but 80.00 was paid: the shoes earn on 80.
    decision = price(purchase("80.00", ("S-1", "shoes", 1, "100.00")))
    assert points(decision) == {"base": 160, "rule:shoes": 320}


def test_a_currency_without_a_rate_is_refused_on_the_currency_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        price(purchase("10.00", currency="GBP"))
    assert caught.value.violations[0].field == "amount.currency_code"
    assert "EUR, JPY, USD" in caught.value.violations[0].description


GENEROUS = """
id: generous
effective_from: 2025-01-01T00:00:00Z
currency: USD
earning:
  base_rates: {USD: 1000}
  rules:
    - {id: per-unit, match: {skus: [BIG]}, bonus_points: 10000000, per: unit}
    - {id: triple, match: {skus: [TRIPLE]}, multiplier: 3}
"""


@pytest.mark.parametrize(
    ("bought", "field"),
    [
        # 1,000,000 units at 10,000,000 bonus points each: the line item, not the 1.00 paid.
        (purchase("1.00", ("BIG", "c", 1_000_000, "0.01")), "line_items"),
        # 900,000,000.00 earns 9 x 10^11 at the base; x3 on its line adds 1.8 x 10^12.
        (purchase("900000000.00", ("TRIPLE", "c", 1, "900000000.00")), "line_items"),
        # 2,000,000,000.00 earns 2 x 10^12 at the base, line items or not.
        (purchase("2000000000.00", ("BIG", "c", 1, "1.00")), "amount.amount_minor"),
    ],
)
def test_earning_more_than_one_entry_holds_is_refused_naming_what_earns_it(bought: Purchase, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        price_purchase(parse_program(GENEROUS), bought, member_tier="base", earned_today=0)
    assert [(v.field, v.description) for v in caught.value.violations] == [
        (field, "earns more than 1000000000000 points, the most one entry holds")
    ]


def test_pending_window_and_expiry_come_from_the_program() -> None:
    bought = purchase("10.00", at=datetime(2025, 1, 31, 10, tzinfo=UTC))
    decision = price(bought)
    assert decision.available_at == bought.occurred_at + timedelta(days=30)
    assert decision.expires_at == datetime(2026, 1, 31, 10, tzinfo=UTC)
    assert decision.program_id == "shop"


def test_summary_lists_every_component() -> None:
    decision = price(purchase("70.00", ("GC-50", "gift_card", 1, "50.00"), ("T", "tops", 1, "20.00")), tier="gold")
    assert decision.summary() == "base 140, rule:gift-cards -100, tier_bonus:gold +10"


def test_the_documented_hotel_example() -> None:
    hotel = parse_program((EXAMPLES / "hotel.yaml").read_text())
    stay = Purchase(
        "stay-1",
        "m-1",
        Money(65000, "USD"),
        (
            LineItem("KING-NIGHT", "room", 2, Money(25000, "USD")),
            LineItem("DINNER", "dining", 1, Money(6000, "USD")),
            LineItem("TAX", "taxes_fees", 1, Money(9000, "USD")),
        ),
        datetime(2025, 7, 10, 18, tzinfo=UTC),
        "app",
    )
    decision = price_purchase(hotel, stay, member_tier="gold", earned_today=0)
    assert points(decision) == {
        "base": 6500,
        "rule:no-points-on-taxes": -900,
        "rule:app-booking": 500,
        "campaign:summer-double": 5000,
        "tier_bonus:gold": 1400,
    }
    assert decision.total == 12500
    assert decision.available_at == stay.occurred_at + timedelta(days=3)
    assert decision.expires_at is None


@pytest.mark.parametrize(
    ("tier", "amount", "currency", "category", "channel", "expected"),
    [
        ("gold", 4299, "USD", "fare_business", "web", {"base": 155, "rule:business": 77, "tier_bonus:gold": 116}),
        (
            "platinum",
            1200000,
            "EUR",
            "fare_first",
            "app",
            {
                "base": 48000,
                "rule:first": 48000,
                "rule:app-bonus": 4800,
                "tier_bonus:platinum": 48000,
                "cap:per_purchase": -73800,
            },
        ),
        (
            "silver",
            12345,
            "EUR",
            "fare_light",
            "web",
            {"base": 492, "rule:light-fares": -246, "tier_bonus:silver": 123},
        ),
    ],
)
def test_the_documented_airline_examples(
    tier: str, amount: int, currency: str, category: str, channel: str, expected: dict[str, int]
) -> None:
    airline = parse_program((EXAMPLES / "airline.yaml").read_text())
    ticket = Purchase(
        "t-1",
        "m-1",
        Money(amount, currency),
        (LineItem("AMS-JFK", category, 1, Money(amount, currency)),),
        datetime(2025, 5, 2, tzinfo=UTC),
        channel,
    )
    assert points(price_purchase(airline, ticket, member_tier=tier, earned_today=0)) == expected


line_items = st.lists(
    st.tuples(
        st.sampled_from(["SOCK-1", "S-1", "GC"]),
        st.sampled_from(["shoes", "gift_card", "tops", "socks"]),
        st.integers(1, 5),
        st.integers(0, 100_000),
    ),
    max_size=6,
)


@given(
    amount=st.integers(0, 1_000_000),
    items=line_items,
    currency=st.sampled_from(["USD", "EUR", "JPY"]),
    channel=st.sampled_from(["web", "app"]),
    tier=st.sampled_from(["base", "gold"]),
    rounding=st.sampled_from(["down", "half_up", "up"]),
    earned_today=st.integers(0, 5_000),
    day=st.integers(0, 364),
)
def test_total_is_never_negative_and_never_above_a_cap(
    amount: int,
    items: list[tuple[str, str, int, int]],
    currency: str,
    channel: str,
    tier: str,
    rounding: str,
    earned_today: int,
    day: int,
) -> None:
    lines = tuple(LineItem(sku, category, quantity, Money(price, currency)) for sku, category, quantity, price in items)
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=day)
    bought = Purchase("p", "m", Money(amount, currency), lines, at, channel)
    capped = program(rounding=rounding, caps="caps: {per_purchase: 4000, per_day: 6000}")
    decision = price_purchase(capped, bought, member_tier=tier, earned_today=earned_today)
    assert 0 <= decision.total <= 4000
    assert decision.total <= max(0, 6000 - earned_today)
    uncapped = price_purchase(program(rounding=rounding), bought, member_tier=tier, earned_today=earned_today)
    assert uncapped.total >= 0
    assert decision.total == min(uncapped.total, 4000, max(0, 6000 - earned_today))
