"""The program's bonuses section: parsing, refusals naming their field, and the limit's period. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.points.bonuses import limit_reached
from services.points.domain import Money, Purchase
from services.points.program import Activity, ActivityLimit, BirthdayBonus, BirthdayWhen, LimitPer, ReferralBonus
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
        ({"signup": {"points": None}}, "bonuses.signup.points"),
        ({"signup": {"points": 0}}, "bonuses.signup.points"),
        ({"signup": {"points": 5, "extra": 1}}, "bonuses.signup.extra"),
        ({"birthday": {"when": "day"}}, "bonuses.birthday.points"),
        ({"birthday": {"points": 5, "when": "week"}}, "bonuses.birthday.when"),
        ({"referral": {"minimum_spend": 5}}, "bonuses.referral.referrer_points"),
        ({"referral": {"referee_points": 0}}, "bonuses.referral.referee_points"),
        ({"referral": {"referee_points": 5, "minimum_spend": -1}}, "bonuses.referral.minimum_spend"),
        ({"referral": {"referee_points": 5, "minimum_spend": 1.001}}, "bonuses.referral.minimum_spend"),
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


def test_birthday_and_referral_are_read() -> None:
    bonuses = parse_program(
        definition(
            with_bonuses(
                birthday={"points": 1000, "when": "day"},
                referral={"referrer_points": 1500, "minimum_spend": 25.5},
            )
        )
    ).bonuses
    assert bonuses.birthday == BirthdayBonus(1000, BirthdayWhen.DAY)
    assert bonuses.referral == ReferralBonus(referrer_points=1500, referee_points=0, minimum_spend_minor=2550)
    assert parse_program(definition(with_bonuses(birthday={"points": 5}))).bonuses.birthday == BirthdayBonus(
        5, BirthdayWhen.MONTH
    )


@pytest.mark.parametrize(
    ("on", "born", "today", "due"),
    [
        # Month mode: any day of the birth month, keyed by that month's first day.
        ("month", date(1990, 3, 17), date(2026, 3, 1), date(2026, 3, 1)),
        ("month", date(1990, 3, 17), date(2026, 3, 31), date(2026, 3, 1)),
        ("month", date(1990, 3, 17), date(2026, 4, 1), None),
        ("month", date(1990, 3, 17), date(2026, 2, 28), None),
        ("month", date(1990, 12, 5), date(2026, 12, 31), date(2026, 12, 1)),
        # Day mode: the birthday and the six days after it, across a year end.
        ("day", date(1990, 3, 17), date(2026, 3, 16), None),
        ("day", date(1990, 3, 17), date(2026, 3, 17), date(2026, 3, 17)),
        ("day", date(1990, 3, 17), date(2026, 3, 23), date(2026, 3, 17)),
        ("day", date(1990, 3, 17), date(2026, 3, 24), None),
        ("day", date(1990, 12, 30), date(2027, 1, 2), date(2026, 12, 30)),
        # 29 February falls on the 28th in other years.
        ("day", date(2000, 2, 29), date(2026, 2, 28), date(2026, 2, 28)),
        ("day", date(2000, 2, 29), date(2028, 2, 28), None),
        ("day", date(2000, 2, 29), date(2028, 2, 29), date(2028, 2, 29)),
    ],
)
def test_when_a_birthday_bonus_is_due(on: str, born: date, today: date, due: date | None) -> None:
    assert BirthdayBonus(100, BirthdayWhen(on)).occurrence_due(born, today) == due


def test_a_birthday_before_enrolling_is_not_paid_but_the_birth_month_is() -> None:
    born, enrolled_on = date(1990, 3, 17), date(2026, 3, 20)
    assert BirthdayBonus(100, BirthdayWhen.DAY).occurrence_due(born, date(2026, 3, 21), enrolled_on) is None
    assert BirthdayBonus(100, BirthdayWhen.DAY).occurrence_due(born, date(2026, 3, 21), date(2026, 3, 17)) == date(
        2026, 3, 17
    )
    assert BirthdayBonus(100, BirthdayWhen.MONTH).occurrence_due(born, date(2026, 3, 21), enrolled_on) == date(
        2026, 3, 1
    )


def _purchase(amount_minor: int, currency: str = "USD") -> Purchase:
    return Purchase("p1", "m1", Money(amount_minor, currency), (), datetime(2026, 1, 1, tzinfo=UTC), "")


@pytest.mark.parametrize(
    ("minimum", "purchase", "points", "qualifies"),
    [
        (0, _purchase(100), 1, True),
        (0, _purchase(100), 0, False),
        (0, _purchase(100, "EUR"), 5, True),
        (2500, _purchase(2500), 50, True),
        (2500, _purchase(2499), 50, False),
        (2500, _purchase(999_999, "EUR"), 50, False),
    ],
)
def test_which_purchase_qualifies_for_the_referral_bonus(
    minimum: int, purchase: Purchase, points: int, qualifies: bool
) -> None:
    assert ReferralBonus(100, 100, minimum).qualifies(purchase.amount, points, "USD") is qualifies
