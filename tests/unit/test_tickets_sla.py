"""SLA clocks in business hours and around the clock, paused while waiting on the member."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.tickets.sla import Calendar, add_working, started, working_seconds

BUSINESS = Calendar("business", "UTC", frozenset(range(5)), time(9), time(17))
NEW_YORK = Calendar("ny", "America/New_York", frozenset(range(5)), time(9), time(17))
HOUR = 3600.0


def at(day: int, hour: int, minute: int = 0) -> datetime:
    # November 2026: the 20th is a Friday, the 23rd a Monday.
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "budget_h", "due"),
    [
        (at(23, 10), 4, at(23, 14)),  # within a Monday
        (at(20, 16), 4, at(23, 12)),  # Friday 16:00 + 4h: 1h Friday, 3h Monday
        (at(21, 12), 1, at(23, 10)),  # opened on Saturday: clock starts Monday 09:00
        (at(23, 7), 8, at(23, 17)),  # before opening
        (at(23, 18), 8, at(24, 17)),  # after closing
        (at(23, 9), 40, at(27, 17)),  # a whole working week
    ],
)
def test_due_time_in_business_hours(start: datetime, budget_h: float, due: datetime) -> None:
    assert add_working(BUSINESS, start, budget_h * HOUR) == due


def test_around_the_clock_counts_every_hour() -> None:
    assert add_working(None, at(21, 12), 8 * HOUR) == at(21, 20)
    assert working_seconds(None, at(21, 12), at(22, 12)) == 24 * HOUR


def test_working_seconds_skip_nights_and_weekends() -> None:
    assert working_seconds(BUSINESS, at(20, 16), at(23, 12)) == 4 * HOUR
    assert working_seconds(BUSINESS, at(21, 0), at(22, 23)) == 0
    assert working_seconds(BUSINESS, at(23, 12), at(23, 11)) == 0


def test_business_hours_follow_the_local_time_zone() -> None:
    # 09:00 in New York on Monday 23 November 2026 (EST, UTC-5) is 14:00 UTC.
    assert add_working(NEW_YORK, at(23, 12), HOUR) == at(23, 15)


def test_paused_clock_keeps_what_was_used_and_due_moves_by_the_pause() -> None:
    clock = started(4 * HOUR, at(23, 10))
    assert clock.due(BUSINESS) == at(23, 14)
    paused = clock.paused(BUSINESS, at(23, 11))  # one working hour used, then waiting on the member
    assert paused.used_s == HOUR
    assert paused.due(BUSINESS) is None
    resumed = paused.resumed(at(24, 9))  # the member answered the next morning
    assert resumed.due(BUSINESS) == at(24, 12)


def test_pausing_twice_and_resuming_a_running_clock_change_nothing() -> None:
    clock = started(HOUR, at(23, 10)).paused(None, at(23, 10, 30))
    assert clock.paused(None, at(23, 16)) == clock
    running = started(HOUR, at(23, 10))
    assert running.resumed(at(23, 12)) == running
