"""Who gets which message on which channel, and when: pure rules, no I/O.

A trigger (an event, a released earnings summary, a birthday) names a
template. The member's preferences decide the channels: none when the member
opted out of the template's category or enabled no channel. Quiet hours in
the member's time zone defer a message to their end, unless that is past
what the message is about (its deadline): a reminder of points that expired
in the night, a greeting the day after a birthday, is withheld rather than
sent late, and the member's quiet hours are kept. The idempotency key of
a message is the trigger's key, the template and the channel, so a trigger
seen twice sends nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.common.errors import Violations
from services.common.member_ids import check_member_id
from services.common.time_zones import time_zone

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class Category(StrEnum):
    ACCOUNT = "account"
    POINTS = "points"
    TIER = "tier"
    REWARDS = "rewards"
    BIRTHDAY = "birthday"
    SERVICE = "service"
    SURVEYS = "surveys"


@dataclass(frozen=True)
class QuietHours:
    """Local times between which nothing is sent; start after end wraps past midnight."""

    start: time
    end: time


@dataclass(frozen=True)
class Preferences:
    member_id: str
    channels: frozenset[Channel]
    opted_out: frozenset[Category]
    time_zone: str
    quiet_hours: QuietHours | None
    # False while the member has the defaults.
    customized: bool = False
    # The member was closed (MemberClosed): nothing more goes to them, whatever they chose.
    closed: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Defaults:
    """What a member who never set preferences gets."""

    time_zone: str
    quiet_hours: QuietHours | None


MEMBER_CLOSED = "member is closed"


def default_preferences(member_id: str, email_on_file: bool, defaults: Defaults) -> Preferences:
    """Email when the member gave an address; SMS and push only once the member turns them on."""
    channels = frozenset({Channel.EMAIL}) if email_on_file else frozenset()
    return Preferences(member_id, channels, frozenset(), defaults.time_zone, defaults.quiet_hours)


def parse_clock(value: str) -> time | None:
    """'HH:MM' on the 24-hour clock, or None when it is not one."""
    match = _CLOCK.match(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def is_time_zone(name: str) -> bool:
    return time_zone(name) is not None


def validate_member_id(violations: Violations, member_id: str, field_name: str = "member_id") -> None:
    check_member_id(violations, field_name, member_id)


def quiet_hours_from(violations: Violations, start: str, end: str, field_name: str) -> QuietHours | None:
    """Quiet hours from 'HH:MM' strings; None when both are empty or equal (no quiet hours)."""
    if not start and not end:
        return None
    parsed = {}
    for name, value in (("start", start), ("end", end)):
        parsed[name] = parse_clock(value)
        if parsed[name] is None:
            violations.add(f"{field_name}.{name}", f"must be a 24-hour HH:MM time, got {value!r}")
    first, last = parsed["start"], parsed["end"]
    if first is None or last is None or first == last:
        return None
    return QuietHours(first, last)


def validate_time_zone(violations: Violations, name: str, field_name: str = "time_zone") -> None:
    if not is_time_zone(name):
        violations.add(field_name, f"must be an IANA time zone such as Europe/Berlin, got {name!r}")


def send_at(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """`now`, or the end of the quiet hours `now` falls in, in the member's local time.

    A local end time that does not exist that day (the clocks jump over it)
    is read with the offset before the jump, which lands just after the gap;
    one that exists twice is its first occurrence.
    """
    if quiet is None or quiet.start == quiet.end:
        return now
    local = now.astimezone(zone)
    wall = local.time()
    if quiet.start < quiet.end:
        quiet_now, end_day = quiet.start <= wall < quiet.end, local.date()
    elif wall >= quiet.start:
        quiet_now, end_day = True, local.date() + timedelta(days=1)
    else:
        quiet_now, end_day = wall < quiet.end, local.date()
    if not quiet_now:
        return now
    return max(now, datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(UTC))


@dataclass(frozen=True)
class Deadline:
    """What a date-bound message is about, after which it is not sent: the member's local date (points expire,
    a tier is requalified, a birthday) and, for what happens at a moment, that moment (points expiring at 23:00
    are gone before their date ends)."""

    day: date
    moment: datetime | None = None

    def passed(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether a message going out `at` would be late: at or after the moment, or on a later local date."""
        return (self.moment is not None and at >= self.moment) or at.astimezone(zone).date() > self.day


DEADLINE_PASSED = "too late: its deadline has passed"
QUIET_HOURS_PAST_DEADLINE = "too late: quiet hours end after its deadline"


def lateness(deadline: Deadline | None, now: datetime, when: datetime, zone: ZoneInfo) -> str:
    """Why a message that would go out `when` (now, or the end of the quiet hours now falls in) would be late
    for its deadline, or '' when it would not."""
    if deadline is None or not deadline.passed(when, zone):
        return ""
    return DEADLINE_PASSED if deadline.passed(now, zone) else QUIET_HOURS_PAST_DEADLINE


@dataclass(frozen=True)
class Trigger:
    """Something that calls for a message: which template, for whom, with what, and what makes it unique."""

    template_id: str
    member_id: str
    # Unique per occurrence: the event id, the summary batch id, "birthday:<year>".
    key: str
    variables: Mapping[str, str] = field(default_factory=dict)
    event_id: str = ""


@dataclass(frozen=True)
class Delivery:
    channel: Channel
    idempotency_key: str
    send_at: datetime


@dataclass(frozen=True)
class Plan:
    deliveries: tuple[Delivery, ...]
    # Why nothing is sent, when nothing is.
    suppressed: str = ""


def idempotency_key(trigger_key: str, template_id: str, channel: Channel) -> str:
    return f"{trigger_key}:{template_id}:{channel.value}"


def refusal(preferences: Preferences, category: Category, channel: Channel | None = None) -> str:
    """Why a message of `category` may not go to the member (on `channel`), or '' when it may."""
    if preferences.closed:
        return MEMBER_CLOSED
    if category in preferences.opted_out:
        return f"member opted out of {category.value} messages"
    if channel is not None and channel not in preferences.channels:
        return f"member has {channel.value} turned off"
    if not preferences.channels:
        return "member has no channel turned on"
    return ""


def plan(
    trigger: Trigger, category: Category, preferences: Preferences, now: datetime, deadline: Deadline | None = None
) -> Plan:
    """The messages a trigger makes for a member: one per enabled channel, after quiet hours; none when that is
    past the `deadline` of a date-bound message."""
    when = send_at(now, preferences.zone, preferences.quiet_hours)
    reason = refusal(preferences, category) or lateness(deadline, now, when, preferences.zone)
    if reason:
        return Plan((), reason)
    return Plan(
        tuple(
            Delivery(channel, idempotency_key(trigger.key, trigger.template_id, channel), when)
            for channel in sorted(preferences.channels)
        )
    )


def summary_due(opened_at: datetime, period: timedelta) -> datetime:
    """An earnings summary collects what the member earns for one period after its first earning.

    The next summary opens only once this one is released, so a member gets at
    most one summary per period.
    """
    return opened_at + period
