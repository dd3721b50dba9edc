"""When a member's activity may be dated: the same bound wherever an activity comes in."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.errors import Violations

# How far ahead of the receiving clock an activity may be dated: time zones and clock drift, not the future.
MAX_FUTURE_SKEW = timedelta(hours=24)


def check_activity_time(violations: Violations, field: str, moment: datetime, now: datetime) -> None:
    """When a member's activity (a purchase, a refund, an action) happened: after 2000, not tomorrow."""
    if moment.tzinfo is None or moment.year < 2000:
        violations.add(field, "is required and must be after 2000-01-01")
    elif moment > now + MAX_FUTURE_SKEW:
        violations.add(field, "must not be more than 24 hours in the future")
