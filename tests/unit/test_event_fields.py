"""The bounds every consumer holds an event's fields to (services/common/event_fields.py). Pure, no I/O.

Each refused event below was accepted by some consumer group and broke it, or a member's message, later.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2, tickets_pb2

from services.common.activity_time import MAX_FUTURE_SKEW
from services.common.bounds import MAX_AMOUNT_MINOR, MAX_POINTS, MAX_POINTS_TOTAL, MAX_REWARD_NAME
from services.common.decimals import decimal_text
from services.common.errors import InvalidArgument
from services.common.event_fields import RULES, check_event
from services.common.events import TOPIC_EVENT_TYPES, timestamp

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
YEAR_9999 = Timestamp(seconds=253402300799)


def usd(amount_minor: int) -> Money:
    return Money(amount_minor=amount_minor, currency_code="USD")


def refusals(payload: Message) -> list[str]:
    """`field: description` of each violation check_event finds (none for an event it lets through)."""
    try:
        check_event(payload, NOW)
    except InvalidArgument as error:
        return [f"{v.field}: {v.logged}" for v in error.violations]
    return []


def enrolled(**fields: object) -> points_pb2.MemberEnrolled:
    """A MemberEnrolled as the points service makes it, but for `fields`."""
    return points_pb2.MemberEnrolled(**{"member_id": "m-1", "tier": "base", "enrolled_at": timestamp(NOW), **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # 9: amounts that insights summed beyond bigint, failing every later report of their window.
        (
            commerce_pb2.PurchaseMade(purchase_id="p", member_id="m-1", amount=usd(INT64_MAX)),
            [f"amount.amount_minor: must be at most {MAX_AMOUNT_MINOR}"],
        ),
        (
            points_pb2.PointsEarned(member_id="m-1", points=10, purchase_amount=usd(INT64_MAX)),
            [f"purchase_amount.amount_minor: must be at most {MAX_AMOUNT_MINOR}"],
        ),
        (points_pb2.PointsEarned(member_id="m-1", points=INT64_MAX), [f"points: must be at most {MAX_POINTS}"]),
        (points_pb2.PointsRedeemed(member_id="m-1", points=INT64_MAX), [f"points: must be at most {MAX_POINTS}"]),
        (
            points_pb2.PointsExpired(member_id="m-1", points=INT64_MAX),
            [f"points: must be at most {MAX_POINTS_TOTAL}"],
        ),
        (
            points_pb2.PointsAdjusted(member_id="m-1", points=INT64_MIN),
            [f"points: must be at most {MAX_POINTS} in size"],
        ),
        (points_pb2.PointsAdjusted(member_id="m-1"), ["points: must not be zero"]),
        # 10: refused by the database (a CHECK, int64) with its message, DETAIL and row as the reason.
        (rewards_pb2.RewardRedeemed(member_id="m-1", points=-5), ["points: must not be negative"]),
        (
            points_pb2.PointsReversed(member_id="m-1", points_taken=INT64_MAX, points_owed=INT64_MAX),
            [f"points_taken: must be at most {MAX_POINTS}", f"points_owed: must be at most {MAX_POINTS}"],
        ),
        # 11: stored in a summary, every later earning of the member then failed adding to it.
        (points_pb2.PointsEarned(member_id="m-1", points=-1), ["points: must be positive"]),
        (points_pb2.PointsExpiring(member_id="m-1"), ["points: must be positive"]),  # would remind of none
        # 12: text that goes into a member's message.
        (
            rewards_pb2.RewardRedeemed(member_id="m-1", points=INT64_MAX),
            [f"points: must be at most {MAX_POINTS}"],
        ),
        (
            rewards_pb2.RewardRedeemed(member_id="m-1", reward_name="r" * 300_000),
            [f"reward_name: must be at most {MAX_REWARD_NAME} characters"],
        ),
        (
            rewards_pb2.RewardRedeemed(member_id="m-1", reward_name="Free\ncoffee"),
            [
                "reward_name: must be a single line of text, without control characters (a tab excepted) or"
                " bidirectional overrides"
            ],
        ),
        (
            rewards_pb2.PerkGranted(member_id="m-1", reward_name="Free \u202eeeffoc"),
            [
                "reward_name: must be a single line of text, without control characters (a tab excepted) or"
                " bidirectional overrides"
            ],
        ),
        # 13: tiers, and the times of facts.
        (
            enrolled(tier="t" * 300_000),
            ["tier: must be 1-32 of a-z, 0-9, '_', '-'"],  # not quoted back: 300,000 characters
        ),
        (
            points_pb2.TierReached(member_id="m-1", tier="Gold Star\n", qualifying_value="NaN"),
            [
                "tier: 'Gold Star\\n' must be 1-32 of a-z, 0-9, '_', '-'",
                "qualifying_value: must be a decimal number in plain notation, such as 1250.50",
            ],
        ),
        (
            points_pb2.TierAtRisk(member_id="m-1", tier="gold", needed_to_keep="1E+3"),
            [
                "projected_tier: is required: 1-32 of a-z, 0-9, '_', '-'",
                "needed_to_keep: must be a decimal number in plain notation, such as 1250.50",
            ],
        ),
        (points_pb2.MemberEnrolled(member_id="m-1", tier="base"), ["enrolled_at: is required"]),
        (enrolled(enrolled_at=YEAR_9999), ["enrolled_at: must not be more than 24 hours in the future"]),
        (
            tickets_pb2.GoodwillGranted(member_id="m-1", points=5, granted_at=YEAR_9999),
            ["granted_at: must not be more than 24 hours in the future"],
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Message) else "",
)
def test_a_field_out_of_its_bounds_is_refused_naming_it(payload: Message, expected: list[str]) -> None:
    assert refusals(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        points_pb2.PointsEarned(
            member_id="m-1",
            points=MAX_POINTS,
            purchase_amount=usd(MAX_AMOUNT_MINOR),
            purchase_occurred_at=timestamp(NOW + MAX_FUTURE_SKEW),
        ),
        points_pb2.PointsEarned(member_id="m-1", points=1),  # not a purchase: no amount
        points_pb2.PointsAdjusted(member_id="m-1", points=-MAX_POINTS),
        points_pb2.PointsReversed(member_id="m-1"),  # a refund that took nothing
        rewards_pb2.RewardRedeemed(member_id="m-1", points=0, reward_name="Free coffee \u2014 caf\u00e9"),  # free
        rewards_pb2.PerkGranted(member_id="m-1"),  # from before rewards named the reward
        points_pb2.TierReached(member_id="m-1", tier="gold", qualifying_value=decimal_text(Decimal("3.0E+5"))),
        points_pb2.TierLost(member_id="m-1", tier="base", previous_tier="gold", qualifying_value="-12.50"),
        points_pb2.TierAtRisk(member_id="m-1", tier="gold", projected_tier="silver", needed_to_keep="250"),
        enrolled(enrolled_at=timestamp(NOW - timedelta(days=9000))),
        tickets_pb2.GoodwillGranted(member_id="m-1", points=5),  # granted_at is not read: optional
        tickets_pb2.SurveySubmitted(member_id="m-1", effort=9),  # a type with no rules here: its consumer's
    ],
    ids=lambda payload: type(payload).__name__,
)
def test_what_the_services_publish_passes(payload: Message) -> None:
    assert refusals(payload) == []


def test_one_past_each_bound_is_refused_and_the_bound_is_not() -> None:
    assert refusals(points_pb2.PointsRedeemed(member_id="m-1", points=MAX_POINTS)) == []
    assert refusals(points_pb2.PointsRedeemed(member_id="m-1", points=MAX_POINTS + 1)) != []
    assert refusals(enrolled(enrolled_at=timestamp(NOW + MAX_FUTURE_SKEW))) == []
    assert refusals(enrolled(enrolled_at=timestamp(NOW + MAX_FUTURE_SKEW + timedelta(seconds=1)))) != []


# What a member holds after three purchases of 5*10^12 minor units at the default rates: each entry within
# MAX_POINTS, their sum not.
BALANCE_OF_THREE_CREDITS = 500_000_000_000 + 2 * 625_000_000_000

# Fields that add up many entries, each with the event the points service makes around them.
TOTALS = {
    "PointsExpired.points": lambda points: points_pb2.PointsExpired(member_id="m-1", points=points),
    "PointsExpiring.points": lambda points: points_pb2.PointsExpiring(member_id="m-1", points=points),
    "MemberClosed.points_forfeited": lambda points: points_pb2.MemberClosed(
        member_id="m-1", points_forfeited=points, closed_at=timestamp(NOW)
    ),
}


@pytest.mark.parametrize("field", TOTALS)
def test_a_total_of_many_entries_passes_past_one_entrys_bound(field: str) -> None:
    # A closure or an expiry run of such a member was dead-lettered by every group applying it, so the closure
    # never reached rewards or tickets and insights kept counting the forfeited points.
    assert refusals(TOTALS[field](BALANCE_OF_THREE_CREDITS)) == []
    assert refusals(TOTALS[field](MAX_POINTS_TOTAL)) == []


@pytest.mark.parametrize("field", TOTALS)
def test_a_total_past_the_total_bound_is_refused(field: str) -> None:
    name = field.split(".")[1]
    assert refusals(TOTALS[field](MAX_POINTS_TOTAL + 1)) == [f"{name}: must be at most {MAX_POINTS_TOTAL}"]


def test_the_total_bound_leaves_sums_far_from_int64() -> None:
    assert MAX_POINTS < MAX_POINTS_TOTAL <= INT64_MAX // 1000


def test_the_rules_name_only_fields_and_event_types_that_exist() -> None:
    carried = set().union(*TOPIC_EVENT_TYPES.values())
    kinds = {kind.DESCRIPTOR.full_name: kind for kind in _event_classes()}
    for full_name, rules in RULES.items():
        assert full_name in carried
        named = set()
        for bound in fields(rules):
            for entry in getattr(rules, bound.name):
                named.add(entry[0] if isinstance(entry, tuple) else entry)  # names: (field, most characters)
        assert named <= set(kinds[full_name].DESCRIPTOR.fields_by_name), full_name


def _event_classes() -> list[type[Message]]:
    modules = (commerce_pb2, points_pb2, rewards_pb2, tickets_pb2)
    return [getattr(m, name) for m in modules for name in m.DESCRIPTOR.message_types_by_name]
