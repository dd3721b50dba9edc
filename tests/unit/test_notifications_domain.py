"""Notification rules: channels, opt-outs, quiet hours in the member's time zone (across DST), summaries,
idempotency keys, and the variables each trigger gives its template."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2

from services.common.errors import InvalidArgument, Violations
from services.notifications import triggers
from services.notifications.domain import (
    Category,
    Channel,
    Defaults,
    Preferences,
    QuietHours,
    Trigger,
    default_preferences,
    plan,
    quiet_hours_from,
    refusal,
    send_at,
    summary_due,
)

NIGHT = QuietHours(time(21), time(8))
BERLIN, NEW_YORK, TOKYO = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2027, 6, 15, 12, tzinfo=UTC)


def prefs(
    channels: set[Channel] | None = None,
    opted_out: set[Category] | None = None,
    time_zone: str = "Europe/Berlin",
    quiet: QuietHours | None = NIGHT,
) -> Preferences:
    chosen = {Channel.EMAIL} if channels is None else channels
    return Preferences("m-1", frozenset(chosen), frozenset(opted_out or ()), time_zone, quiet, customized=True)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- defaults, channels and opt-outs -------------------------------------------------------------


def test_by_default_a_member_gets_email_only_when_an_address_is_on_file() -> None:
    defaults = Defaults("UTC", NIGHT)
    assert default_preferences("m", True, defaults).channels == {Channel.EMAIL}
    assert default_preferences("m", False, defaults).channels == frozenset()
    assert not default_preferences("m", True, defaults).customized


def test_one_message_per_enabled_channel_with_a_key_per_trigger_template_and_channel() -> None:
    trigger = Trigger("tier_reached", "m-1", "event-1")
    result = plan(trigger, Category.TIER, prefs({Channel.SMS, Channel.EMAIL}), NOW)
    assert [(d.channel, d.idempotency_key) for d in result.deliveries] == [
        (Channel.EMAIL, "event-1:tier_reached:email"),
        (Channel.SMS, "event-1:tier_reached:sms"),
    ]
    again = plan(trigger, Category.TIER, prefs({Channel.SMS, Channel.EMAIL}), NOW + timedelta(hours=1))
    assert [d.idempotency_key for d in again.deliveries] == [d.idempotency_key for d in result.deliveries]


def test_one_trigger_with_two_templates_has_distinct_keys() -> None:
    resolved = tickets_pb2.TicketResolved(ticket_id="t-1", member_id="m-1")
    notice, survey = triggers.ticket_resolved(resolved, "event-9")
    keys = {
        plan(t, triggers.category_of(t.template_id), prefs(), NOW).deliveries[0].idempotency_key
        for t in (notice, survey)
    }
    # The invitation is the ticket's one survey: a ticket resolved again is not invited again.
    assert keys == {"event-9:ticket_resolved:email", "survey:t-1:survey_invitation:email"}


def test_an_opted_out_category_sends_nothing_on_any_channel_and_other_categories_still_go() -> None:
    member = prefs({Channel.EMAIL, Channel.PUSH}, {Category.POINTS})
    withheld = plan(Trigger("points_expiring", "m-1", "e"), Category.POINTS, member, NOW)
    assert withheld.deliveries == () and "opted out of points" in withheld.suppressed
    assert len(plan(Trigger("tier_reached", "m-1", "e"), Category.TIER, member, NOW).deliveries) == 2


def test_no_channel_means_no_message() -> None:
    assert plan(Trigger("welcome", "m-1", "e"), Category.ACCOUNT, prefs(set()), NOW).suppressed == (
        "member has no channel turned on"
    )


def test_a_channel_turned_off_later_refuses_that_channel_only() -> None:
    member = prefs({Channel.EMAIL})
    assert refusal(member, Category.TIER, Channel.SMS) == "member has sms turned off"
    assert refusal(member, Category.TIER, Channel.EMAIL) == ""


# -- quiet hours ------------------------------------------------------------------------------------


def test_outside_quiet_hours_a_message_goes_at_once() -> None:
    assert send_at(utc(2027, 6, 15, 12), BERLIN, NIGHT) == utc(2027, 6, 15, 12)
    assert send_at(utc(2027, 6, 15, 2), BERLIN, None) == utc(2027, 6, 15, 2)


def test_in_the_evening_part_of_quiet_hours_a_message_waits_until_the_next_morning() -> None:
    # 22:30 in Berlin (CEST, UTC+2) is 20:30 UTC; 08:00 the next morning is 06:00 UTC.
    assert send_at(utc(2027, 6, 15, 20, 30), BERLIN, NIGHT) == utc(2027, 6, 16, 6)


def test_after_midnight_a_message_waits_until_the_same_morning() -> None:
    assert send_at(utc(2027, 6, 15, 3), BERLIN, NIGHT) == utc(2027, 6, 15, 6)  # 05:00 local


def test_the_same_moment_is_quiet_for_one_member_and_not_another() -> None:
    moment = utc(2027, 6, 15, 1)  # 03:00 Berlin, 21:00 New York (the day before), 10:00 Tokyo
    assert send_at(moment, BERLIN, NIGHT) == utc(2027, 6, 15, 6)
    assert send_at(moment, NEW_YORK, NIGHT) == utc(2027, 6, 15, 12)  # 08:00 EDT
    assert send_at(moment, TOKYO, NIGHT) == moment


def test_quiet_hours_end_at_local_eight_on_both_sides_of_a_dst_change() -> None:
    # Berlin moves to summer time on 28 March 2027: 08:00 is 07:00 UTC before, 06:00 UTC on the day.
    assert send_at(utc(2027, 3, 27, 23), BERLIN, NIGHT) == utc(2027, 3, 28, 6)
    assert send_at(utc(2027, 3, 26, 23), BERLIN, NIGHT) == utc(2027, 3, 27, 7)
    # New York back to standard time on 7 November 2027: 08:00 EST is 13:00 UTC.
    assert send_at(utc(2027, 11, 7, 5), NEW_YORK, NIGHT) == utc(2027, 11, 7, 13)


def test_quiet_hours_ending_in_the_skipped_hour_end_just_after_the_clocks_jump() -> None:
    quiet = QuietHours(time(1), time(2, 30))  # 02:30 does not exist in Berlin on 28 March 2027
    release = send_at(utc(2027, 3, 28, 0, 15), BERLIN, quiet)  # 01:15 CET
    assert release == utc(2027, 3, 28, 1, 30)  # 03:30 CEST, the first moment after the quiet hours
    assert release.astimezone(BERLIN).hour == 3


def test_quiet_hours_ending_in_the_repeated_hour_end_at_its_first_occurrence() -> None:
    quiet = QuietHours(time(0), time(2, 30))  # 02:30 happens twice in Berlin on 31 October 2027
    assert send_at(utc(2027, 10, 30, 23), BERLIN, quiet) == utc(2027, 10, 31, 0, 30)  # 01:00 CEST -> 02:30 CEST
    # During the second 02:00-02:30 (CET), the first 02:30 has passed: it goes at once.
    second_pass = utc(2027, 10, 31, 1, 10)
    assert send_at(second_pass, BERLIN, quiet) == second_pass


def test_daytime_quiet_hours_do_not_wrap() -> None:
    siesta = QuietHours(time(13), time(15))
    assert send_at(utc(2027, 6, 15, 11, 30), BERLIN, siesta) == utc(2027, 6, 15, 13)
    assert send_at(utc(2027, 6, 15, 13, 30), BERLIN, siesta) == utc(2027, 6, 15, 13, 30)


def test_quiet_hours_are_read_from_hh_mm_and_name_the_wrong_field() -> None:
    violations = Violations()
    assert quiet_hours_from(violations, "22:00", "07:30", "quiet_hours") == QuietHours(time(22), time(7, 30))
    assert quiet_hours_from(violations, "08:00", "08:00", "quiet_hours") is None  # equal: none
    assert quiet_hours_from(violations, "", "", "quiet_hours") is None
    violations.raise_if_any()
    with pytest.raises(InvalidArgument) as raised:
        bad = Violations()
        quiet_hours_from(bad, "24:00", "7", "p.quiet_hours")
        bad.raise_if_any()
    assert [v.field for v in raised.value.violations] == ["p.quiet_hours.start", "p.quiet_hours.end"]


# -- summaries and triggers ------------------------------------------------------------------------


def test_a_summary_is_due_one_period_after_it_opened() -> None:
    assert summary_due(NOW, timedelta(days=1)) == NOW + timedelta(days=1)


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def test_expiring_points_name_the_local_day_and_the_days_left() -> None:
    expiring = points_pb2.PointsExpiring(member_id="m-1", points=300, expires_at=_stamp(utc(2027, 7, 1, 22, 30)))
    in_tokyo = triggers.points_expiring(expiring, "e", TOKYO, utc(2027, 6, 1, 23))
    assert in_tokyo.variables == {
        "points": "300",
        "expires_on": "2027-07-02",
        "days_left": "30",
        "due_at": "2027-07-01T22:30:00+00:00",
    }
    assert (
        triggers.points_expiring(expiring, "e", NEW_YORK, utc(2027, 6, 1, 23)).variables["expires_on"] == "2027-07-01"
    )


@pytest.mark.parametrize(
    "payload",
    [
        points_pb2.PointsExpiring(member_id="m-1", points=5),
        points_pb2.PointsExpiring(points=5, expires_at=_stamp(NOW)),
    ],
)
def test_an_expiry_reminder_without_what_it_needs_is_refused(payload: points_pb2.PointsExpiring) -> None:
    with pytest.raises(InvalidArgument):
        triggers.points_expiring(payload, "e", BERLIN, NOW)


def test_every_trigger_gives_exactly_the_variables_its_spec_promises() -> None:
    stamp = _stamp(NOW + timedelta(days=10))
    made = [
        triggers.welcome(points_pb2.MemberEnrolled(member_id="m", tier="member"), "e"),
        triggers.tier_reached(points_pb2.TierReached(member_id="m", tier="gold"), "e"),
        triggers.points_expiring(
            points_pb2.PointsExpiring(member_id="m", points=1, expires_at=stamp), "e", BERLIN, NOW
        ),
        triggers.tier_at_risk(
            points_pb2.TierAtRisk(member_id="m", tier="gold", projected_tier="silver", requalify_at=stamp),
            "e",
            BERLIN,
            NOW,
        ),
        triggers.reward_issued(rewards_pb2.RewardRedeemed(member_id="m", reward_id="r", code="C", points=5), "e"),
        triggers.reward_issued(
            rewards_pb2.PerkGranted(member_id="m", reward_id="r", code="C", occasion="birthday"), "e"
        ),
        triggers.ticket_opened(tickets_pb2.TicketOpened(member_id="m", ticket_id="t"), "e"),
        *triggers.ticket_resolved(tickets_pb2.TicketResolved(member_id="m", ticket_id="t"), "e"),
        triggers.earned_summary("m", "b", 10, 2, 100),
        triggers.birthday("m", date(2027, 6, 15)),
    ]
    assert {t.template_id for t in made} == set(triggers.TRIGGERS)
    for trigger in made:
        assert {"given_name", *trigger.variables} == triggers.TRIGGERS[trigger.template_id].variables, trigger


def test_birthday_and_summary_keys_are_unique_per_member_and_occurrence() -> None:
    assert triggers.birthday("a", date(2027, 6, 15)).key != triggers.birthday("b", date(2027, 6, 15)).key
    assert triggers.birthday("a", date(2027, 6, 15)).key != triggers.birthday("a", date(2028, 6, 15)).key
    assert triggers.earned_summary("a", "batch-1", 1, 1, 1).key == "summary:batch-1"


def test_a_message_sent_later_counts_its_days_left_from_the_local_date_it_is_sent_on() -> None:
    expiring = points_pb2.PointsExpiring(member_id="m-1", points=300)
    expiring.expires_at.FromDatetime(datetime(2027, 6, 16, 22, 0, tzinfo=UTC))
    trigger = triggers.points_expiring(expiring, "event-1", UTC_ZONE, datetime(2027, 6, 14, 21, 0, tzinfo=UTC))
    assert trigger.variables["days_left"] == "2"
    held_until_morning = datetime(2027, 6, 16, 8, 0, tzinfo=UTC)
    assert triggers.as_sent(trigger.template_id, trigger.variables, UTC_ZONE, held_until_morning)["days_left"] == "0"
    assert triggers.as_sent("tier_reached", {"tier": "gold"}, UTC_ZONE, held_until_morning) == {"tier": "gold"}


# Evening in UTC on 7 December 2026: still the 7th in Pago Pago (UTC-11), already the 8th in Tokyo.
DECEMBER_EVENING = datetime(2026, 12, 7, 20, 48, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_at", "expires_on", "days_left"),
    [
        (datetime(2026, 12, 7, 23, tzinfo=UTC), "2026-12-07", "0"),  # later today
        (datetime(2026, 12, 8, 23, tzinfo=UTC), "2026-12-08", "1"),  # tomorrow, 26 hours ahead
        (datetime(2026, 12, 9, 0, 30, tzinfo=UTC), "2026-12-09", "2"),
    ],
)
def test_days_left_is_the_difference_of_local_dates_not_of_hours(
    expires_at: datetime, expires_on: str, days_left: str
) -> None:
    expiring = points_pb2.PointsExpiring(member_id="m-1", points=10, expires_at=_stamp(expires_at))
    variables = triggers.points_expiring(expiring, "e", UTC_ZONE, DECEMBER_EVENING).variables
    assert (variables["expires_on"], variables["days_left"]) == (expires_on, days_left)


@pytest.mark.parametrize(
    ("zone", "requalify_on"),
    [(ZoneInfo("Pacific/Pago_Pago"), "2026-12-31"), (TOKYO, "2027-01-01")],
)
def test_a_tier_at_risk_counts_its_days_left_by_the_members_calendar(zone: ZoneInfo, requalify_on: str) -> None:
    at_risk = points_pb2.TierAtRisk(
        member_id="m-1", tier="gold", projected_tier="silver", requalify_at=_stamp(datetime(2027, 1, 1, tzinfo=UTC))
    )
    variables = triggers.tier_at_risk(at_risk, "e", zone, DECEMBER_EVENING.replace(minute=43)).variables
    assert (variables["requalify_on"], variables["days_left"]) == (requalify_on, "24")
    sent = triggers.as_sent("tier_at_risk", variables, zone, DECEMBER_EVENING + timedelta(days=1))
    assert sent["days_left"] == "23"
