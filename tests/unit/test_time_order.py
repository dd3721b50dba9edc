"""Two times of a request in order, at the microsecond the services keep times to. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import InvalidArgument, Violations
from services.common.time_order import at_least_1_us_after, check_after

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("later", [START, START - timedelta(microseconds=1)])
def test_a_time_not_after_the_other_is_refused_saying_by_how_much_it_must_be(later: datetime) -> None:
    violations = Violations()
    check_after(violations, "to_time", later, "from_time", START)
    with pytest.raises(InvalidArgument) as refused:
        violations.raise_if_any()
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("to_time", "must be at least 1 µs after from_time (times are kept to the microsecond)")
    ]
    assert at_least_1_us_after("from_time") == refused.value.violations[0].description


def test_a_time_a_microsecond_after_is_taken() -> None:
    violations = Violations()
    check_after(violations, "to_time", START + timedelta(microseconds=1), "from_time", START)
    violations.raise_if_any()
