"""When a member's activity, or any fact, may be dated: the same bound wherever one comes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.errors import Violations

# The earliest an activity may be dated: programs take effect no earlier (yaml_fields.EARLIEST), so nothing before
# it could be priced, counted in a tier window or given a term.
EARLIEST_ACTIVITY = datetime(2000, 1, 1, tzinfo=UTC)
# How far ahead of the receiving clock an activity may be dated: time zones and clock drift, not the future.
MAX_FUTURE_SKEW = timedelta(hours=24)
# An activity counts (towards tiers, as activity) when it happened, but never at or after the moment the service
# records it, which may move the member's tier: the instant before at the latest.
_BEFORE = timedelta(microseconds=1)
# So it may count this much before its own time, at most.
MAX_COUNTED_EARLIER = MAX_FUTURE_SKEW + _BEFORE


def check_activity_time(violations: Violations, field: str, moment: datetime, now: datetime) -> None:
    """When a member's activity (a purchase, a refund, an action) happened: from 2000, not tomorrow. A naive
    `moment` stands for a time the request left out."""
    if moment.tzinfo is None:
        violations.add(field, "is required")
    elif not EARLIEST_ACTIVITY <= moment <= now + MAX_FUTURE_SKEW:  # either side worded alike: the range
        violations.add(
            field, f"must be from {EARLIEST_ACTIVITY:%Y-%m-%dT%H:%M:%SZ} to 24 hours ahead of the service's clock"
        )


def check_not_ahead(violations: Violations, field: str, moment: datetime, now: datetime) -> None:
    """When something already happened with no lower bound of its own (an enrolment, a grant): at most
    MAX_FUTURE_SKEW ahead of `now`, the receiving clock. An activity's time has both: check_activity_time."""
    if moment > now + MAX_FUTURE_SKEW:
        violations.add(field, "must not be more than 24 hours in the future")


def counted_at(moment: datetime, now: datetime) -> datetime:
    """When an activity dated `moment`, recorded at `now`, counts: when it happened, but never later than just
    before it was recorded. One stamped ahead of the service's clock would otherwise count in the window after the
    tier move it makes (and keep the tier it earned), and leave the member active in the future."""
    return min(moment, now - _BEFORE)
