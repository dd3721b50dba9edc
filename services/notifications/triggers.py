"""Which events call for which message, and the variables each trigger gives its template.

`TRIGGERS` is the contract between triggers and templates: a template may use
only the variables its trigger provides (checked when templates load). Every
trigger also provides the member's `given_name` (empty when unknown).
Builders are pure: they take the event's payload, its id, the member's time
zone and the time now, and return the Trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2

from services.common.errors import InvalidArgument, Violations
from services.common.text_fields import NOT_IN_A_LINE, SINGLE_LINE, check_line
from services.notifications.domain import Category, Deadline, Trigger


@dataclass(frozen=True)
class TriggerSpec:
    category: Category
    variables: frozenset[str]
    # For a message about a date: the variable holding it, the member's local date (days_left counts to it, and
    # the message is not sent after it).
    date_variable: str = ""


def _spec(category: Category, *variables: str, date_variable: str = "") -> TriggerSpec:
    return TriggerSpec(category, frozenset({"given_name", *variables}), date_variable)


TRIGGERS: Mapping[str, TriggerSpec] = {
    "welcome": _spec(Category.ACCOUNT, "tier"),
    "points_earned_summary": _spec(Category.POINTS, "points_earned", "earnings", "balance"),
    "points_expiring": _spec(
        Category.POINTS, "points", "expires_on", "days_left", "due_at", date_variable="expires_on"
    ),
    "tier_reached": _spec(Category.TIER, "tier", "previous_tier"),
    "tier_at_risk": _spec(
        Category.TIER,
        "tier",
        "projected_tier",
        "requalify_on",
        "days_left",
        "needed_to_keep",
        "due_at",
        date_variable="requalify_on",
    ),
    "reward_issued": _spec(Category.REWARDS, "reward_id", "reward_name", "redemption_id", "code", "points", "occasion"),
    "birthday": _spec(Category.BIRTHDAY, "birthday_on", date_variable="birthday_on"),
    "ticket_opened": _spec(Category.SERVICE, "ticket_id", "ticket_category"),
    "ticket_resolved": _spec(Category.SERVICE, "ticket_id"),
    "survey_invitation": _spec(Category.SURVEYS, "ticket_id"),
}


def category_of(template_id: str) -> Category:
    return TRIGGERS[template_id].category


# Ids from other services end up in message keys (a unique index): beyond this they could not be kept.
MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 256  # as the points service enrolls members


def require_fields(member_id: str, **fields: str) -> None:
    """The member and every other named field are present; ids fit in a message key; and each is one line, as
    any of them may be quoted in the member's message (a line break or a bidirectional override there would
    forge what the member reads)."""
    violations = Violations()
    for field, value in {"member_id": member_id, **fields}.items():
        if not value:
            violations.add(field, "is required")
        elif len(value) > MAX_ID_LENGTH:
            violations.add(field, f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
        elif NOT_IN_A_LINE.search(value):
            violations.add(field, SINGLE_LINE)
    violations.raise_if_any()


def _local_day(stamp: Timestamp, zone: ZoneInfo, field: str) -> str:
    try:
        return stamp.ToDatetime(tzinfo=UTC).astimezone(zone).date().isoformat()
    except (OverflowError, ValueError) as error:  # the year 9999 in a zone east of UTC
        raise InvalidArgument.single(field, f"is out of range in the member's time zone {zone.key}") from error


def _days_left(day: str, zone: ZoneInfo, now: datetime) -> str:
    """From the member's local date now to the local date `day`, as the member reads the date printed beside it:
    0 on the day itself, 1 the day before, whatever the hours (points expiring tomorrow at 23:00 expire
    'tomorrow', not 'in 2 days'). Never negative in a message sent: one past its date is withheld."""
    return str((date.fromisoformat(day) - now.astimezone(zone).date()).days)


def _countdown(template_id: str, stamp: Timestamp, field: str, zone: ZoneInfo, now: datetime) -> dict[str, str]:
    """The moment a message is about (`due_at`), its local date (the template's date variable) and the days left
    to that date as of now."""
    day = _local_day(stamp, zone, field)
    return {
        TRIGGERS[template_id].date_variable: day,
        "days_left": _days_left(day, zone, now),
        "due_at": stamp.ToDatetime(tzinfo=UTC).isoformat(),
    }


# Variables a trigger provides since a later release, with the value a message held from before it (quiet
# hours, a member not known yet) is sent with: its template uses them, and an undefined variable is an error.
_ADDED_LATER: Mapping[str, Mapping[str, str]] = {"reward_issued": {"reward_name": ""}}


def as_sent(template_id: str, variables: Mapping[str, str], zone: ZoneInfo, now: datetime) -> dict[str, str]:
    """The variables as of sending: a message held by quiet hours counts its days left from the member's local
    date when it goes out."""
    sent = {**_ADDED_LATER.get(template_id, {}), **variables}
    if "days_left" in sent:
        sent["days_left"] = _days_left(sent[TRIGGERS[template_id].date_variable], zone, now)
    return sent


def deadline_of(template_id: str, variables: Mapping[str, str]) -> Deadline | None:
    """The deadline of a date-bound message: its local date, and its moment (`due_at`) when it has one. None for
    other messages, and for a birthday greeting held since before greetings named their date."""
    date_variable = TRIGGERS[template_id].date_variable
    day = variables.get(date_variable) if date_variable else None
    if day is None:
        return None
    moment = variables.get("due_at")
    return Deadline(date.fromisoformat(day), datetime.fromisoformat(moment) if moment else None)


def welcome(payload: points_pb2.MemberEnrolled, event_id: str) -> Trigger:
    require_fields(payload.member_id)
    # Every message to the member carries the name: one no message could carry is refused here, as points does.
    violations = Violations()
    check_line(violations, "given_name", payload.given_name, max_length=MAX_NAME_LENGTH)
    violations.raise_if_any()
    return Trigger("welcome", payload.member_id, event_id, {"tier": payload.tier}, event_id)


def points_expiring(payload: points_pb2.PointsExpiring, event_id: str, zone: ZoneInfo, now: datetime) -> Trigger:
    require_fields(payload.member_id)  # the points are held to their bounds already (common/event_fields.py)
    if not payload.HasField("expires_at"):
        raise InvalidArgument.single("expires_at", "is required")
    variables = {
        "points": str(payload.points),
        **_countdown("points_expiring", payload.expires_at, "expires_at", zone, now),
    }
    return Trigger("points_expiring", payload.member_id, event_id, variables, event_id)


def tier_reached(payload: points_pb2.TierReached, event_id: str) -> Trigger:
    require_fields(payload.member_id, tier=payload.tier)
    variables = {"tier": payload.tier, "previous_tier": payload.previous_tier}
    return Trigger("tier_reached", payload.member_id, event_id, variables, event_id)


def tier_at_risk(payload: points_pb2.TierAtRisk, event_id: str, zone: ZoneInfo, now: datetime) -> Trigger:
    require_fields(payload.member_id, tier=payload.tier, projected_tier=payload.projected_tier)
    if not payload.HasField("requalify_at"):
        raise InvalidArgument.single("requalify_at", "is required")
    variables = {
        "tier": payload.tier,
        "projected_tier": payload.projected_tier,
        "needed_to_keep": payload.needed_to_keep,
        **_countdown("tier_at_risk", payload.requalify_at, "requalify_at", zone, now),
    }
    return Trigger("tier_at_risk", payload.member_id, event_id, variables, event_id)


def reward_issued(payload: rewards_pb2.RewardRedeemed | rewards_pb2.PerkGranted, event_id: str) -> Trigger:
    require_fields(payload.member_id, reward_id=payload.reward_id, code=payload.code)
    if isinstance(payload, rewards_pb2.RewardRedeemed):
        points, occasion = str(payload.points), "redemption"
    else:
        points, occasion = "0", payload.occasion
    variables = {
        "reward_id": payload.reward_id,
        # Empty in events from before rewards named the reward: the template then says "your reward".
        "reward_name": payload.reward_name,
        "redemption_id": payload.redemption_id,
        "code": payload.code,
        "points": points,
        "occasion": occasion,
    }
    return Trigger("reward_issued", payload.member_id, event_id, variables, event_id)


def ticket_opened(payload: tickets_pb2.TicketOpened, event_id: str) -> Trigger:
    require_fields(payload.member_id, ticket_id=payload.ticket_id)
    variables = {"ticket_id": payload.ticket_id, "ticket_category": payload.category}
    return Trigger("ticket_opened", payload.member_id, event_id, variables, event_id)


def ticket_resolved(payload: tickets_pb2.TicketResolved, event_id: str) -> list[Trigger]:
    """The resolution notice and the survey invitation that follows it."""
    require_fields(payload.member_id, ticket_id=payload.ticket_id)
    variables = {"ticket_id": payload.ticket_id}
    return [
        Trigger("ticket_resolved", payload.member_id, event_id, variables, event_id),
        # Once per ticket: a ticket resolved again keeps the survey it was issued (one answer per ticket).
        Trigger("survey_invitation", payload.member_id, f"survey:{payload.ticket_id}", variables, event_id),
    ]


def earned_summary(member_id: str, batch_id: str, points: int, earnings: int, balance: int) -> Trigger:
    variables = {"points_earned": str(points), "earnings": str(earnings), "balance": str(balance)}
    return Trigger("points_earned_summary", member_id, f"summary:{batch_id}", variables)


def birthday(member_id: str, today: date) -> Trigger:
    """The greeting on the member's local date `today` (their birthday, or 28 February for 29 February)."""
    return Trigger("birthday", member_id, f"birthday:{member_id}:{today.year}", {"birthday_on": today.isoformat()})
