"""Rewards rules, pure: validation, eligibility, limit periods, birthdays. No I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.errors import InvalidArgument
from services.rewards import domain
from services.rewards.domain import Reward, RewardSpec, Value

NOW = datetime(2026, 7, 15, 12, 30, tzinfo=UTC)
LADDER = ["member", "silver", "gold"]
SPEC = RewardSpec(
    name="5 USD off",
    description="",
    value=Value("discount_fixed", amount_minor=500, currency_code="USD"),
    cost_points=100,
    min_tier="",
    stock_total=None,
    valid_from=None,
    valid_until=None,
    per_member_limit=0,
    limit_period="",
    code_source="generated",
    code_validity=timedelta(days=30),
    trigger="redeem",
    trigger_tier="",
)


def reward(stock: int | None = None, status: str = "active", **changes: object) -> Reward:
    spec = replace(SPEC, stock_total=stock, **changes)  # type: ignore[arg-type]
    return Reward("r-1", spec, stock, status, NOW, NOW, partner_codes_available=0, stock_issued=0)


def violated_fields(spec: RewardSpec) -> set[str]:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_spec(spec, LADDER)
    return {v.field for v in caught.value.violations}


def test_a_complete_spec_is_valid() -> None:
    domain.validate_spec(SPEC, LADDER)


@pytest.mark.parametrize("kind", ["discount_fixed", "cashback"])
def test_a_money_value_may_be_as_large_as_any_amount_of_money_and_no_larger(kind: str) -> None:
    largest = Value(kind, amount_minor=10**13, currency_code="USD")
    domain.validate_spec(replace(SPEC, value=largest), LADDER)
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_spec(replace(SPEC, value=replace(largest, amount_minor=10**13 + 1)), LADDER)
    assert str(caught.value) == "spec.amount.amount_minor: must be at most 10000000000000"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "spec.name"),
        ({"value": Value("discount_fixed")}, "spec.amount.amount_minor"),
        ({"value": Value("discount_percent", percent_off=101)}, "spec.percent_off"),
        ({"value": Value("free_product")}, "spec.sku"),
        ({"value": Value("partner", sku="x")}, "spec.partner"),
        ({"value": Value("")}, "spec.kind"),
        ({"cost_points": -1}, "spec.cost_points"),
        ({"trigger": "birthday"}, "spec.cost_points"),
        ({"trigger": "tier_welcome", "cost_points": 0}, "spec.trigger_tier"),
        ({"trigger": "tier_welcome", "cost_points": 0, "trigger_tier": "g" * 201}, "spec.trigger_tier"),
        ({"trigger": "tier_welcome", "cost_points": 0, "trigger_tier": "gold "}, "spec.trigger_tier"),
        ({"trigger_tier": " "}, "spec.trigger_tier"),
        ({"trigger": "tier_welcome", "cost_points": 0, "trigger_tier": "A B"}, "spec.trigger_tier"),
        ({"trigger": "tier_welcome", "cost_points": 0, "trigger_tier": "Gold"}, "spec.trigger_tier"),
        ({"value": Value("discount_fixed", amount_minor=500, currency_code="USD", sku="\t")}, "spec.sku"),
        ({"value": Value("discount_fixed", amount_minor=500, currency_code="USD", partner=" ")}, "spec.partner"),
        ({"value": Value("free_product", sku="\u200b")}, "spec.sku"),
        ({"value": Value("partner", partner="\u00a0")}, "spec.partner"),
        ({"name": "\u200b"}, "spec.name"),
        ({"name": "\ufeff\u2060 "}, "spec.name"),
        ({"stock_total": 10**13}, "spec.stock_total"),
        ({"min_tier": "diamond"}, "spec.min_tier"),
        ({"per_member_limit": 2}, "spec.limit_period"),
        ({"valid_from": NOW, "valid_until": NOW}, "spec.valid_until"),
        ({"code_source": ""}, "spec.code_source"),
        ({"code_validity": timedelta(minutes=5)}, "spec.code_validity"),
    ],
)
def test_each_invalid_field_is_named(changes: dict[str, object], field: str) -> None:
    assert field in violated_fields(replace(SPEC, **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("candidate", "member_tier", "used", "reason"),
    [
        (reward(status="archived"), None, 0, "archived"),
        (reward(trigger="birthday", cost_points=0), None, 0, "granted automatically"),
        (reward(valid_from=NOW + timedelta(seconds=1)), None, 0, "validity window"),
        (reward(valid_until=NOW), None, 0, "validity window"),
        (reward(min_tier="gold"), "silver", 0, "needs tier gold"),
        (reward(min_tier="gold"), None, 0, "needs tier gold"),
        (reward(per_member_limit=2, limit_period="month"), None, 2, "per-member limit of 2 per month"),
    ],
)
def test_ineligible_members_get_the_reason(candidate: Reward, member_tier: str | None, used: int, reason: str) -> None:
    refusal = domain.redeem_refusal(candidate, member_tier, LADDER, used, NOW)
    assert refusal is not None and not refusal.out_of_stock
    assert reason in refusal.reason


def test_out_of_stock_is_its_own_refusal_and_stock_left_is_none() -> None:
    refusal = domain.redeem_refusal(reward(stock=0), None, LADDER, 0, NOW)
    assert refusal is not None and refusal.out_of_stock
    assert domain.redeem_refusal(reward(stock=1, min_tier="silver"), "gold", LADDER, 0, NOW) is None
    assert domain.redeem_refusal(reward(per_member_limit=2, limit_period="day"), None, LADDER, 1, NOW) is None


def test_partner_pool_rewards_need_codes_left() -> None:
    pool = replace(reward(code_source="partner_pool"), partner_codes_available=0)
    assert domain.has_stock(pool) is False
    assert domain.has_stock(replace(pool, partner_codes_available=1)) is True


def test_limit_periods_start_at_calendar_boundaries_in_utc() -> None:
    assert domain.period_start("day", NOW) == datetime(2026, 7, 15, tzinfo=UTC)
    assert domain.period_start("month", NOW) == datetime(2026, 7, 1, tzinfo=UTC)
    assert domain.period_start("year", NOW) == datetime(2026, 1, 1, tzinfo=UTC)
    assert domain.period_start("lifetime", NOW) is None


def test_the_stock_total_cannot_go_below_the_units_issued_while_limited_or_not() -> None:
    for total in (5, None):
        issued_two = replace(reward(stock=total), stock_issued=2)
        assert domain.stock_total_refusal(issued_two, 10) is None
        assert domain.stock_total_refusal(issued_two, 2) is None
        assert domain.stock_total_refusal(issued_two, None) is None
        assert domain.stock_total_refusal(issued_two, 1) == "spec.stock_total: below the 2 units already issued"
        issued_one = replace(reward(stock=total), stock_issued=1)
        assert domain.stock_total_refusal(issued_one, 0) == "spec.stock_total: below the 1 unit already issued"


def test_29_february_is_celebrated_on_the_28th_in_common_years() -> None:
    assert domain.birthdays_celebrated_on(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert domain.birthdays_celebrated_on(date(2028, 2, 28)) == [(2, 28)]
    assert domain.birthdays_celebrated_on(date(2028, 2, 29)) == [(2, 29)]


def test_birth_dates_parse_or_fail() -> None:
    assert domain.parse_birth_date("1990-03-01") == date(1990, 3, 1)
    assert domain.parse_birth_date("") is None
    with pytest.raises(ValueError):
        domain.parse_birth_date("01/03/1990")


def test_a_ladder_names_each_tier_once() -> None:
    domain.validate_ladder(LADDER)
    with pytest.raises(InvalidArgument):
        domain.validate_ladder(["gold", "gold"])
    with pytest.raises(InvalidArgument):
        domain.validate_ladder([])


@pytest.mark.parametrize(
    "tiers",
    [["A B"], ["\U0001f600"], ["NaN"], ["gold", ""], ["t" * 33], [f"t{n}" for n in range(21)]],
    ids=["space", "emoji", "upper-case", "empty", "33-characters", "21-tiers"],
)
def test_a_ladder_holds_only_tier_names_a_program_can_have(tiers: list[str]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.validate_ladder(tiers)
    assert all(v.field.startswith("tiers") for v in refused.value.violations)


def test_a_ladder_too_long_is_refused_once_not_entry_by_entry() -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.validate_ladder([f"Tier {n}" for n in range(10_000)])
    assert [v.field for v in refused.value.violations] == ["tiers"]


def test_a_ladder_as_long_as_a_program_may_have_is_valid() -> None:
    domain.validate_ladder([f"level-{n}" for n in range(20)])


def test_a_welcome_perk_for_a_well_named_tier_and_a_product_named_with_inner_spaces_are_valid() -> None:
    domain.validate_spec(replace(SPEC, trigger="tier_welcome", cost_points=0, trigger_tier="gold_plus-2"), LADDER)
    domain.validate_spec(replace(SPEC, value=Value("free_product", sku="Large coffee")), LADDER)
