"""The program's bonuses section: parsing, refusals naming their field, and the limit's period. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.points.bonuses import limit_reached
from services.points.program import Activity, ActivityLimit, LimitPer
from services.points.program_schema import parse_program
from tests.unit.test_program_schema import definition, refused


def with_bonuses(**bonuses: object) -> Any:
    return lambda d: d.update(bonuses=bonuses)


def test_a_program_without_bonuses_has_none() -> None:
    bonuses = parse_program(definition()).bonuses
    assert (bonuses.signup_points, bonuses.activities) == (None, ())


def test_signup_and_activities_are_read_with_once_only_by_default() -> None:
    activities = [
        {"id": "newsletter-optin", "points": 100},
        {"id": "review", "description": "Review written", "points": 50, "limit": {"count": 2, "per": "month"}},
        {"id": "survey", "points": 10, "limit": {"per": "year"}},
    ]
    bonuses = parse_program(definition(with_bonuses(signup={"points": 500}, activities=activities))).bonuses
    assert bonuses.signup_points == 500
    assert bonuses.activity("newsletter-optin") == Activity(
        "newsletter-optin", "", 100, ActivityLimit(1, LimitPer.EVER)
    )
    assert bonuses.activity("review") == Activity("review", "Review written", 50, ActivityLimit(2, LimitPer.MONTH))
    assert bonuses.activity("survey") == Activity("survey", "", 10, ActivityLimit(1, LimitPer.YEAR))
    assert bonuses.activity("unknown") is None


@pytest.mark.parametrize(
    ("bonuses", "field"),
    [
        ({"signup": {}}, "bonuses.signup.points"),
        ({"signup": {"points": 0}}, "bonuses.signup.points"),
        ({"signup": {"points": 5, "extra": 1}}, "bonuses.signup.extra"),
        ({"birthday": {"points": 5}}, "bonuses.birthday"),
        ({"activities": {"id": "x"}}, "bonuses.activities"),
        ({"activities": [{"points": 5}]}, "bonuses.activities[0].id"),
        ({"activities": [{"id": "Bad Id", "points": 5}]}, "bonuses.activities[0].id"),
        ({"activities": [{"id": "a"}]}, "bonuses.activities[0].points"),
        ({"activities": [{"id": "a", "points": "many"}]}, "bonuses.activities[0].points"),
        ({"activities": [{"id": "a", "points": 5, "limit": {"per": "week"}}]}, "bonuses.activities[0].limit.per"),
        ({"activities": [{"id": "a", "points": 5, "limit": {"count": 0}}]}, "bonuses.activities[0].limit.count"),
        ({"activities": [{"id": "a", "points": 5, "limit": {"every": 1}}]}, "bonuses.activities[0].limit.every"),
        ({"activities": [{"id": "a", "points": 5}, {"id": "a", "points": 6}]}, "bonuses.activities[1].id"),
    ],
)
def test_a_wrong_bonus_is_refused_naming_its_field(bonuses: dict[str, object], field: str) -> None:
    assert field in refused(definition(with_bonuses(**bonuses)))


def test_the_limit_period_is_the_program_local_calendar_month_or_year() -> None:
    program = parse_program(definition(lambda d: d.update(timezone="Europe/Paris")))
    # 23:30 UTC on 31 December is already 1 January in Paris.
    moment = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    assert program.period_bounds(LimitPer.MONTH, moment) == (
        datetime(2025, 12, 31, 23, tzinfo=UTC),
        datetime(2026, 1, 31, 23, tzinfo=UTC),
    )
    assert program.period_bounds(LimitPer.YEAR, moment) == (
        datetime(2025, 12, 31, 23, tzinfo=UTC),
        datetime(2026, 12, 31, 23, tzinfo=UTC),
    )
    # Summer time: the month of July starts at 22:00 UTC on 30 June.
    assert program.period_bounds(LimitPer.MONTH, datetime(2025, 7, 15, tzinfo=UTC))[0] == datetime(
        2025, 6, 30, 22, tzinfo=UTC
    )
    assert program.period_bounds(LimitPer.EVER, moment) == (None, None)


def test_the_limit_is_reached_at_count_credits_in_the_period() -> None:
    twice = Activity("review", "", 50, ActivityLimit(2, LimitPer.MONTH))
    assert [limit_reached(twice, credited) for credited in (0, 1, 2, 3)] == [False, False, True, True]
