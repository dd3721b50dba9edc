"""Tier rules: qualification on a window's value, immediate upgrades, bounded downgrades at requalification."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.points.program import TierBasis, TierLevel, TierPolicy, TierWindow
from services.points.tiers import (
    AtRisk,
    HeldTier,
    TierChange,
    at_risk,
    earned_level,
    judged_window,
    next_requalification,
    priced_tier,
    progress,
    requalify,
    upgrade,
    window_start,
)


def policy(window: TierWindow = TierWindow.CALENDAR_YEAR, downgrade_steps: int = 1) -> TierPolicy:
    levels = tuple(
        TierLevel(name, Decimal(threshold), Decimal(0))
        for name, threshold in (("member", 0), ("silver", 1000), ("gold", 5000), ("platinum", 20000))
    )
    months = 12 if window is TierWindow.ROLLING else None
    return TierPolicy(TierBasis.POINTS, window, months, downgrade_steps, levels)


@pytest.mark.parametrize(("value", "tier"), [(0, "member"), (999, "member"), (1000, "silver"), (25000, "platinum")])
def test_the_highest_threshold_reached_is_the_tier(value: int, tier: str) -> None:
    assert earned_level(policy(), Decimal(value)).name == tier


def test_upgrades_happen_at_once_and_skip_tiers() -> None:
    assert upgrade(policy(), "member", Decimal(6000)) == TierChange("member", "gold", Decimal(6000))
    assert upgrade(policy(), "gold", Decimal(6000)) is None
    assert upgrade(policy(), "gold", Decimal(100)) is None  # never down outside requalification


def test_requalification_drops_at_most_the_configured_steps() -> None:
    assert requalify(policy(), "platinum", Decimal(0)) == TierChange("platinum", "gold", Decimal(0))
    assert requalify(policy(downgrade_steps=3), "platinum", Decimal(0)) == TierChange("platinum", "member", Decimal(0))
    assert requalify(policy(), "gold", Decimal(5000)) is None
    assert requalify(policy(), "silver", Decimal(30000)) == TierChange("silver", "platinum", Decimal(30000))


def test_the_direction_of_a_change() -> None:
    assert TierChange("silver", "gold", Decimal(1)).upward(policy())
    assert not TierChange("gold", "silver", Decimal(1)).upward(policy())


def test_progress_shows_what_the_next_tier_needs() -> None:
    assert progress(policy(), "silver", Decimal(1200)).needed_for_next == Decimal(3800)
    assert progress(policy(), "silver", Decimal(1200)).next_tier == "gold"
    top = progress(policy(), "platinum", Decimal(1))
    assert (top.next_tier, top.needed_for_next) == (None, Decimal(0))


def test_calendar_windows_start_on_new_year_in_the_program_time_zone() -> None:
    now = datetime(2026, 1, 1, 3, tzinfo=UTC)  # still 2025 in New York
    start = window_start(policy(), now, "America/New_York")
    assert (start.year, start.month, start.day) == (2025, 1, 1)
    again = next_requalification(policy(), now, "America/New_York")
    assert (again.year, again.month, again.day) == (2026, 1, 1)


def test_rolling_windows_reach_back_n_months() -> None:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    rolling = policy(TierWindow.ROLLING)
    assert window_start(rolling, now, "UTC") == datetime(2025, 3, 31, tzinfo=UTC)
    assert next_requalification(rolling, now, "UTC") == datetime(2027, 3, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reached", "months", "requalified"),
    [
        (datetime(2025, 1, 31, 12, tzinfo=UTC), 1, datetime(2025, 3, 1, tzinfo=UTC)),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), 12, datetime(2025, 3, 1, tzinfo=UTC)),
        (datetime(2025, 11, 30, 23, tzinfo=UTC), 3, datetime(2026, 3, 1, tzinfo=UTC)),
        (datetime(2025, 1, 28, 12, tzinfo=UTC), 1, datetime(2025, 2, 28, 12, tzinfo=UTC)),
    ],
)
def test_a_rolling_requalification_never_judges_points_from_before_the_tier_was_reached(
    reached: datetime, months: int, requalified: datetime
) -> None:
    rolling = replace(policy(TierWindow.ROLLING), window_months=months)
    at = next_requalification(rolling, reached, "UTC")
    assert at == requalified
    assert judged_window(rolling, at, "UTC")[0] >= reached  # a shorter month must not pull the window back


def test_a_member_is_at_risk_when_requalifying_now_would_move_them_down() -> None:
    assert at_risk(policy(), "gold", Decimal(1200)) == AtRisk("gold", "silver", Decimal(3800))
    assert at_risk(policy(downgrade_steps=1), "platinum", Decimal(0)) == AtRisk("platinum", "gold", Decimal(20000))
    assert at_risk(policy(), "gold", Decimal(5000)) is None  # the threshold keeps it
    assert at_risk(policy(), "silver", Decimal(9000)) is None  # moving up is no risk
    assert at_risk(policy(), "member", Decimal(0)) is None  # the lowest tier cannot be lost


def test_a_requalification_judges_the_window_that_ends_at_it() -> None:
    new_year_in_paris = datetime(2027, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
    # The stroke of the new year closes the year before; it does not judge the year it begins.
    assert judged_window(policy(), new_year_in_paris, "Europe/Paris") == (
        datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
        new_year_in_paris,
    )
    reached_at = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    assert judged_window(policy(TierWindow.ROLLING), reached_at, "UTC") == (
        datetime(2025, 3, 15, 10, 0, tzinfo=UTC),
        reached_at,
    )


@pytest.mark.parametrize(
    ("dated_in", "zone_now"),
    [
        ("America/New_York", "UTC"),
        ("UTC", "America/New_York"),
        ("UTC", "Europe/Amsterdam"),
        ("Pacific/Kiritimati", "Pacific/Pago_Pago"),
    ],
)
def test_after_the_time_zone_changed_a_calendar_year_requalification_judges_the_year_closing_then(
    dated_in: str, zone_now: str
) -> None:
    # Dated at the new year in the old zone; the program now keeps its year in another.
    requalify_at = datetime(2027, 1, 1, tzinfo=ZoneInfo(dated_in))
    start, end = judged_window(policy(), requalify_at, zone_now)
    assert (start, end) == (
        datetime(2026, 1, 1, tzinfo=ZoneInfo(zone_now)),
        datetime(2027, 1, 1, tzinfo=ZoneInfo(zone_now)),
    )


def test_a_calendar_year_date_far_from_any_new_year_judges_the_last_year_closed() -> None:
    # A date a rolling version set, judged by a calendar-year version that replaced it.
    mid_year = datetime(2027, 6, 15, tzinfo=UTC)
    assert judged_window(policy(), mid_year, "UTC") == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def ladder(*names: str) -> TierPolicy:
    levels = tuple(TierLevel(name, Decimal(1000 * rank), Decimal(10)) for rank, name in enumerate(names))
    return TierPolicy(TierBasis.POINTS, TierWindow.ROLLING, 12, 1, levels)


FOUR = ladder("member", "silver", "gold", "platinum")


def test_a_held_tier_the_pricing_ladder_names_is_priced_by_that_name_wherever_it_stands() -> None:
    reordered = ladder("member", "gold", "silver")
    assert priced_tier(reordered, HeldTier("gold", FOUR)) == "gold"
    assert priced_tier(reordered, HeldTier("gold", None)) == "gold"


def test_a_renamed_tier_is_priced_as_the_tier_at_its_rank_on_the_ladder_it_was_reached_on() -> None:
    assert priced_tier(ladder("member", "silver", "gold-elite", "platinum"), HeldTier("gold", FOUR)) == "gold-elite"
    assert priced_tier(FOUR, HeldTier("gold-elite", ladder("member", "silver", "gold-elite"))) == "gold"


def test_a_tier_above_a_shorter_ladder_is_priced_as_its_top_tier() -> None:
    assert priced_tier(ladder("member", "silver", "gold"), HeldTier("platinum", FOUR)) == "gold"


def test_a_tier_off_every_ladder_or_under_a_program_without_tiers_earns_no_tier_bonus() -> None:
    assert priced_tier(FOUR, HeldTier("base", None)) is None  # enrolled before any program with tiers
    assert priced_tier(FOUR, HeldTier("bronze", FOUR)) is None  # off the ladder it was held on too
    assert priced_tier(None, HeldTier("gold", FOUR)) is None
