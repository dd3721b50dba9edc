"""Two times of one request in order, at the precision the services keep times to: the microsecond.

A request's Timestamps carry nanoseconds, read to the microsecond (as datetime
and PostgreSQL keep times), so two times less than 1 µs apart may read as one
time: "must be after" alone would then be refused for a time that is after.
"""

from __future__ import annotations

from datetime import datetime

from services.common.errors import Violations


def at_least_1_us_after(earlier_field: str) -> str:
    return f"must be at least 1 µs after {earlier_field} (times are kept to the microsecond)"


def check_after(violations: Violations, field: str, moment: datetime, earlier_field: str, earlier: datetime) -> None:
    """A violation on `field` unless `moment` comes after `earlier` (`earlier_field`)."""
    if moment <= earlier:
        violations.add(field, at_least_1_us_after(earlier_field))
