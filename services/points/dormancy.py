"""When the inactivity policy takes a member's points, in SQL: the sweep and the reminders select by it.

ExpiryPolicy.dormant_at (services/points/program.py) is the same date in Python, for GetPointsSchedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.points.program import add_months

# A member's points go for want of activity `inactivity_months` after the later of their enrolment and last
# activity, a day past the month's end becoming its last day (ExpiryPolicy.dormant_at): 31 January + 1 month is
# 28 February, up to 3 days before the plain shift. The index on last activity is searched this much wider (a day
# to spare) than the pass's time less the months, and the exact date checked on each member found
# (tests/unit/test_points_expiry_dates.py).
MONTH_END_SLACK = timedelta(days=4)

# When a member of `members m` last counted as active: enrolling counts (migration points/017).
LAST_ACTIVE = "GREATEST(m.last_activity_at, m.enrolled_at)"

# Passes walk members by (LAST_ACTIVE, member_id), the order of their index (migration points/030), a page
# starting after the last one's (time, id); this is before every member.
Keyset = tuple[datetime, str]
NO_MEMBER: Keyset = (datetime.min.replace(tzinfo=UTC), "")


def dormant_at_sql(last_active: str, months: str) -> str:
    """ExpiryPolicy.dormant_at in SQL, for the sweep and the reminders, so both use the date GetPointsSchedule shows
    and PointsExpiring announces: months added in UTC whatever the session's zone, and PostgreSQL's timestamp +
    interval, like add_months, makes a day past the month's end its last day (pinned by
    tests/integration/test_points_expiry.py). `last_active` and `months` are SQL expressions."""
    return f"(({last_active}) AT TIME ZONE 'UTC' + make_interval(months => {months})) AT TIME ZONE 'UTC'"


def last_active_before(dormant_by: datetime, months: int) -> datetime:
    """Every member whose points the inactivity policy takes by `dormant_by` was last active before this."""
    return add_months(dormant_by, -months) + MONTH_END_SLACK


def last_active_from(dormant_after: datetime, months: int) -> datetime:
    """Every member whose points the inactivity policy takes after `dormant_after` was last active at or after this."""
    return add_months(dormant_after, -months) - MONTH_END_SLACK
