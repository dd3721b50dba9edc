"""Date-bound messages (points expiring, a tier at risk, a birthday) are never sent late: one that quiet hours
would hold past its deadline, or that comes after it, is withheld, and one held is checked again when released."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2

from services.notifications import triggers
from services.notifications.domain import (
    DEADLINE_PASSED,
    QUIET_HOURS_PAST_DEADLINE,
    Channel,
    Deadline,
    Preferences,
    Trigger,
    lateness,
    plan,
)
from tests.unit.test_notifications_domain import NIGHT, TOKYO, UTC_ZONE, utc


def member(zone: str = "UTC") -> Preferences:
    return Preferences("m-1", frozenset({Channel.EMAIL}), frozenset(), zone, NIGHT)


def expiring(expires_at: datetime, now: datetime, zone: ZoneInfo = UTC_ZONE) -> Trigger:
    stamp = Timestamp()
    stamp.FromDatetime(expires_at)
    return triggers.points_expiring(
        points_pb2.PointsExpiring(member_id="m-1", points=10, expires_at=stamp), "e", zone, now
    )


def planned(trigger: Trigger, now: datetime, preferences: Preferences | None = None) -> tuple[list[datetime], str]:
    """When each delivery would go, and why none would."""
    chosen = preferences or member()
    made = plan(
        trigger,
        triggers.category_of(trigger.template_id),
        chosen,
        now,
        triggers.deadline_of(trigger.template_id, trigger.variables),
    )
    return [d.send_at for d in made.deliveries], made.suppressed


def test_a_reminder_quiet_hours_would_hold_past_the_expiry_is_withheld() -> None:
    tonight = utc(2026, 12, 7, 23)
    assert planned(expiring(tonight, utc(2026, 12, 7, 20, 48)), utc(2026, 12, 7, 20, 48)) == (
        [utc(2026, 12, 7, 20, 48)],
        "",
    )
    assert planned(expiring(tonight, utc(2026, 12, 7, 21, 2)), utc(2026, 12, 7, 21, 2)) == (
        [],
        QUIET_HOURS_PAST_DEADLINE,
    )


def test_a_reminder_held_until_before_the_expiry_is_scheduled_and_one_held_to_the_expiry_is_not() -> None:
    evening = utc(2026, 12, 7, 21, 2)
    assert planned(expiring(utc(2026, 12, 8, 9), evening), evening) == ([utc(2026, 12, 8, 8)], "")
    assert planned(expiring(utc(2026, 12, 8, 8), evening), evening) == ([], QUIET_HOURS_PAST_DEADLINE)


def test_a_reminder_read_after_the_expiry_is_withheld_whatever_the_quiet_hours() -> None:
    late = utc(2026, 12, 8, 12)
    assert planned(expiring(utc(2026, 12, 8, 11), late), late) == ([], DEADLINE_PASSED)


def test_a_birthday_greeting_quiet_hours_would_push_to_the_next_day_is_withheld() -> None:
    greeting = triggers.birthday("m-1", date(2026, 12, 7))
    assert planned(greeting, utc(2026, 12, 7, 21, 3)) == ([], QUIET_HOURS_PAST_DEADLINE)
    # Found just after midnight: held until the quiet hours end that morning, still the birthday.
    assert planned(greeting, utc(2026, 12, 7, 0, 1)) == ([utc(2026, 12, 7, 8)], "")


def test_a_birthday_is_the_members_local_date() -> None:
    greeting = triggers.birthday("m-1", date(2026, 12, 8))
    in_tokyo = member("Asia/Tokyo")
    # 23:30 UTC on the 7th is 08:30 on the 8th in Tokyo: the birthday, out of the quiet hours.
    assert planned(greeting, utc(2026, 12, 7, 23, 30), in_tokyo) == ([utc(2026, 12, 7, 23, 30)], "")
    # 15:00 UTC on the 8th is the 9th in Tokyo: the birthday is over.
    assert planned(greeting, utc(2026, 12, 8, 15), in_tokyo) == ([], DEADLINE_PASSED)


def test_messages_about_no_date_are_held_by_quiet_hours_as_before() -> None:
    reached = Trigger("tier_reached", "m-1", "e", {"tier": "gold", "previous_tier": "silver"})
    assert triggers.deadline_of("tier_reached", reached.variables) is None
    assert planned(reached, utc(2026, 12, 7, 21, 2)) == ([utc(2026, 12, 8, 8)], "")


def test_the_deadline_of_each_date_bound_message() -> None:
    reminder = expiring(utc(2026, 12, 8, 23), utc(2026, 12, 1), TOKYO)
    assert triggers.deadline_of("points_expiring", reminder.variables) == Deadline(
        date(2026, 12, 9), utc(2026, 12, 8, 23)
    )
    at_risk = {"requalify_on": "2026-12-31", "due_at": "2027-01-01T00:00:00+00:00"}
    assert triggers.deadline_of("tier_at_risk", at_risk) == Deadline(date(2026, 12, 31), utc(2027, 1, 1))
    greeting = triggers.birthday("m-1", date(2026, 12, 7))
    assert triggers.deadline_of("birthday", greeting.variables) == Deadline(date(2026, 12, 7))
    # A greeting held since before greetings named their date has no deadline to check.
    assert triggers.deadline_of("birthday", {}) is None


@pytest.mark.parametrize(
    ("now", "when", "reason"),
    [
        (utc(2026, 12, 8, 7), utc(2026, 12, 8, 8), ""),  # held until the quiet hours end, still before
        (utc(2026, 12, 8, 8), utc(2026, 12, 8, 10), QUIET_HOURS_PAST_DEADLINE),  # the member moved them over it
        (utc(2026, 12, 8, 9, 30), utc(2026, 12, 8, 9, 30), DEADLINE_PASSED),  # released late (scheduler down)
    ],
)
def test_a_held_message_is_checked_again_when_it_would_go_out(now: datetime, when: datetime, reason: str) -> None:
    deadline = Deadline(date(2026, 12, 8), utc(2026, 12, 8, 9))
    assert lateness(deadline, now, when, UTC_ZONE) == reason
    assert lateness(None, now, when, UTC_ZONE) == ""
