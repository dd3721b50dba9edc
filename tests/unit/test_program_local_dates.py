"""Months are counted on the program's calendar, in its time zone: expiry terms and rolling tier windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.common.errors import InvalidArgument
from services.points.domain import Money, Purchase
from services.points.earning import price_purchase
from services.points.program_schema import parse_program
from services.points.tiers import next_requalification, window_start

NEW_YORK = ZoneInfo("America/New_York")
PROGRAM = """
id: shop
effective_from: 2020-01-01
timezone: America/New_York
currency: USD
earning: {base_rates: {USD: 2}}
expiry: {months_after_earning: 1}
"""


def test_points_expire_on_the_same_program_day_of_the_month_or_its_last_day() -> None:
    """docs/program.md, expiry.months_after_earning: "the same day of the month, or its last day"; the
    program's days are in its `timezone`. Earned on 30 January (New York), they expire on 28 February."""
    program = parse_program(PROGRAM)
    earned = datetime(2025, 1, 30, 20, 0, tzinfo=NEW_YORK)  # 2025-01-31T01:00Z
    purchase = Purchase("p-1", "m-1", Money(10000, "USD"), (), earned.astimezone(UTC), "")
    decision = price_purchase(program, purchase, member_tier="", earned_today=0)
    assert decision.expires_at is not None
    assert decision.expires_at.astimezone(NEW_YORK).date() == date(2025, 2, 28)


def test_points_earned_on_the_first_of_a_month_in_tokyo_expire_on_the_first() -> None:
    program = parse_program(PROGRAM.replace("America/New_York", "Asia/Tokyo"))
    tokyo = ZoneInfo("Asia/Tokyo")
    earned = datetime(2025, 3, 1, 8, 0, tzinfo=tokyo)  # 2025-02-28T23:00Z
    purchase = Purchase("p-1", "m-1", Money(10000, "USD"), (), earned.astimezone(UTC), "")
    decision = price_purchase(program, purchase, member_tier="", earned_today=0)
    assert decision.expires_at is not None
    assert decision.expires_at.astimezone(tokyo).date() == date(2025, 4, 1)  # is 29 March: three days early


ROLLING = """
id: shop
effective_from: 2020-01-01
timezone: ZONE
currency: USD
earning: {base_rates: {USD: 2}}
tiers:
  window: rolling
  window_months: 1
  levels:
    - {name: member, threshold: 0}
"""


def test_a_rolling_tier_window_runs_from_the_programs_day_of_the_month() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    policy = parse_program(ROLLING.replace("ZONE", "Asia/Tokyo")).tiers
    assert policy is not None
    now = datetime(2025, 3, 31, 8, 0, tzinfo=tokyo).astimezone(UTC)  # 2025-03-30T23:00Z: in UTC, from 1 March
    assert window_start(policy, now, "Asia/Tokyo").astimezone(tokyo).date() == date(2025, 2, 28)
    reached = datetime(2025, 1, 27, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)  # 2025-01-28T01:00Z: in UTC, 28 Feb
    assert next_requalification(policy, reached, "America/New_York") == datetime(2025, 2, 27, 20, 0, tzinfo=NEW_YORK)
    # 30 January in New York: February has no 30th, so the window ends as March begins there.
    reached = datetime(2025, 1, 30, 20, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert next_requalification(policy, reached, "America/New_York") == datetime(2025, 3, 1, tzinfo=NEW_YORK)


def test_a_program_date_out_of_range_is_refused_naming_the_instants_it_must_fall_between() -> None:
    """A date is read in the program's time zone: 1 January 2000 in Paris began in 1999 in UTC, before the bound."""
    with pytest.raises(InvalidArgument) as refused:
        parse_program(PROGRAM.replace("America/New_York", "Europe/Paris").replace("2020-01-01", "2000-01-01"))
    assert refused.value.message == "effective_from: must be from 2000-01-01T00:00:00Z and before 9000-01-01T00:00:00Z"
