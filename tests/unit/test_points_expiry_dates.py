"""The expiry job's search for members whose inactivity date has come or is near: the range it reads on the
index of last activity holds every member the exact date (ExpiryPolicy.dormant_at) selects, at month ends and
leap days too (31 January + 1 month is 28 February: up to 3 days before the plain shift)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.points.dormancy import last_active_before, last_active_from
from services.points.program import ExpiryPolicy

HOUR = timedelta(hours=1)


def month_end_moments() -> list[datetime]:
    """Moments around every month's end of 2031 to 2033 (2032 a leap year), at several times of day."""
    moments = []
    day = datetime(2031, 1, 1, tzinfo=UTC)
    while day < datetime(2034, 1, 1, tzinfo=UTC):
        if day.day >= 26 or day.day <= 2:
            moments += [day + timedelta(minutes=minutes) for minutes in (0, 7 * 60 + 13, 23 * 60 + 59)]
        day += timedelta(days=1)
    return moments


@pytest.mark.parametrize("months", [1, 11, 12, 13, 24, 25])
def test_the_searched_range_holds_every_member_whose_inactivity_date_has_come_or_is_near(months: int) -> None:
    policy = ExpiryPolicy(None, months, None)
    for last_active in month_end_moments():
        dormant_at = policy.dormant_at(last_active)
        assert dormant_at is not None
        for hours in range(0, 4 * 24, 5):
            # The sweep at or after the date, the reminder's window ending at or after it: the member is found.
            assert last_active < last_active_before(dormant_at + hours * HOUR, months), (last_active, hours)
            # A pass before the date (the reminder's window starting before it): the member is found.
            assert last_active >= last_active_from(dormant_at - (hours + 1) * HOUR, months), (last_active, hours)


def test_31_january_goes_on_28_february_and_is_within_the_range_a_month_on() -> None:
    last_active = datetime(2033, 1, 31, 10, tzinfo=UTC)
    dormant_at = ExpiryPolicy(None, 1, None).dormant_at(last_active)
    assert dormant_at == datetime(2033, 2, 28, 10, tzinfo=UTC)
    # Plain month arithmetic from the date back gives 28 January: the range reaches 3 days past it.
    assert last_active_from(dormant_at - HOUR, 1) <= last_active < last_active_before(dormant_at, 1)
