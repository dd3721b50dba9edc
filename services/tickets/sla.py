"""SLA clocks: working time in a calendar, due times, pausing while waiting on the member. Pure.

A calendar is either around the clock (24x7) or business hours: open and
close times on given weekdays in a time zone. SLA budgets are working
seconds: a 4-hour budget opened on Friday at 16:00 in 09:00-17:00 business
hours is due on Monday at 12:00.

The resolution clock keeps the working seconds already used; pausing adds the
running stretch to it, resuming computes a new due time from what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A calendar with at least one open weekday has an open stretch within any 7 days.
_MAX_DAYS_SEARCHED = 8


@dataclass(frozen=True)
class Calendar:
    """Business hours; `weekdays` are 0 (Monday) to 6, `opens` < `closes` local times."""

    name: str
    timezone: str
    weekdays: frozenset[int]
    opens: time
    closes: time

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The open stretch of a local day, in UTC, or None on a closed day."""
        if day.weekday() not in self.weekdays:
            return None
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(day, self.opens, zone).astimezone(UTC)
        return start, datetime.combine(day, self.closes, zone).astimezone(UTC)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()


# None stands for around the clock.
Hours = Calendar | None


def working_seconds(hours: Hours, start: datetime, end: datetime) -> float:
    """Working seconds between two moments (0 when end is not after start)."""
    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds()
    total = 0.0
    day = hours.local_date(start)
    while day <= hours.local_date(end):
        window = hours.window(day)
        if window is not None:
            overlap = min(end, window[1]) - max(start, window[0])
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


def add_working(hours: Hours, start: datetime, seconds: float) -> datetime:
    """The moment `seconds` of working time after `start` (start itself when seconds <= 0)."""
    if seconds <= 0:
        return start
    if hours is None:
        return start + timedelta(seconds=seconds)
    remaining = seconds
    day = hours.local_date(start)
    cursor = start
    searched = 0
    while True:
        window = hours.window(day)
        if window is not None and window[1] > cursor:
            begin = max(cursor, window[0])
            available = (window[1] - begin).total_seconds()
            if remaining <= available:
                return begin + timedelta(seconds=remaining)
            remaining -= available
            searched = 0
        day += timedelta(days=1)
        searched += 1
        if searched > _MAX_DAYS_SEARCHED:
            raise ValueError(f"calendar {hours.name!r} has no open hours")


@dataclass(frozen=True)
class ResolutionClock:
    """Working seconds budgeted and used; `running_since` is None while paused or stopped."""

    budget_s: float
    used_s: float
    running_since: datetime | None

    def due(self, hours: Hours) -> datetime | None:
        if self.running_since is None:
            return None
        return add_working(hours, self.running_since, self.budget_s - self.used_s)

    def paused(self, hours: Hours, now: datetime) -> ResolutionClock:
        if self.running_since is None:
            return self
        used = self.used_s + working_seconds(hours, self.running_since, now)
        return replace(self, used_s=used, running_since=None)

    def resumed(self, now: datetime) -> ResolutionClock:
        return self if self.running_since is not None else replace(self, running_since=now)


def started(budget_s: float, now: datetime) -> ResolutionClock:
    return ResolutionClock(budget_s=budget_s, used_s=0.0, running_since=now)
