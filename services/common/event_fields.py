"""The bounds every consumer holds a consumed event's fields to, whichever service reads it: one rule per field.

The services that publish these events never break them (the RPCs that make the facts hold the same bounds,
services/common/bounds.py). An event that does comes from another producer or from a defect, and a consumer that
took it would fail later, where nothing names the event at fault: a sum beyond bigint in every later report, each
later earning of the member refused, a line break or a right-to-left override in a member's message. So the event
consumers check each event they apply here, by its type (`RULES`), in the transaction that marks it in their inbox
and before their handler runs (services/common/event_consumer.py, services/common/read_model.py): refused, it is
dead-lettered naming the field, once however often it is delivered, and the consumer carries on.

What only one consumer needs of an event (a member id, a survey's scale, a birth date) stays with that consumer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2, tickets_pb2

from services.common.activity_time import check_not_ahead
from services.common.bounds import MAX_POINTS_TOTAL, MAX_REWARD_NAME, check_amount_minor, check_points
from services.common.currencies import currency_refusal
from services.common.errors import Violations
from services.common.text_fields import check_line
from services.common.tier_names import check_tier_name

# How the points service writes a decimal into an event (services/common/decimals.py): plain notation, no exponent,
# no NaN or infinity; a member's message may quote it.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")


@dataclass(frozen=True)
class Rules:
    """The fields of an event type a consumer reads, by the bound each is held to. Fields not named are not checked."""

    points: tuple[str, ...] = ()  # points one entry moves: 1 to MAX_POINTS
    point_parts: tuple[str, ...] = ()  # 0 to MAX_POINTS: part of a movement, or what a free reward costs
    point_changes: tuple[str, ...] = ()  # either sign but not zero, at most MAX_POINTS in size: an adjustment
    # Points that add up many entries (all of a member's expiring lots, a closure's forfeiture): 1 to
    # MAX_POINTS_TOTAL, or 0 to it as `point_total_parts`, since one entry's bound would refuse the platform's own.
    point_totals: tuple[str, ...] = ()
    point_total_parts: tuple[str, ...] = ()
    money: tuple[str, ...] = ()  # Money, when set: 0 to MAX_AMOUNT_MINOR in a currency the platform knows
    tiers: tuple[str, ...] = ()  # tier names (services/common/tier_names.py), required
    optional_tiers: tuple[str, ...] = ()  # tier names, or empty
    decimals: tuple[str, ...] = ()  # plain decimal text, or empty
    names: tuple[tuple[str, int], ...] = ()  # (field, most characters): one line, shown to members
    times: tuple[str, ...] = ()  # when a fact happened, when set: at most MAX_FUTURE_SKEW ahead of the clock
    required_times: tuple[str, ...] = ()  # the same, required


def _full_names(rules: Mapping[type[Message], Rules]) -> Mapping[str, Rules]:
    return MappingProxyType({kind.DESCRIPTOR.full_name: rule for kind, rule in rules.items()})


_TIER_CHANGE = Rules(tiers=("tier",), optional_tiers=("previous_tier",), decimals=("qualifying_value",))

RULES: Mapping[str, Rules] = _full_names(
    {
        commerce_pb2.PurchaseMade: Rules(money=("amount",)),
        commerce_pb2.PurchaseRefunded: Rules(money=("amount",)),
        points_pb2.MemberEnrolled: Rules(tiers=("tier",), required_times=("enrolled_at",)),
        points_pb2.PointsEarned: Rules(points=("points",), money=("purchase_amount",), times=("purchase_occurred_at",)),
        points_pb2.PointsRedeemed: Rules(points=("points",)),
        # The expiry job and a closure take all of a member's due lots in one entry; a reminder adds up the lots
        # going on one date: totals, not one movement.
        points_pb2.PointsExpired: Rules(point_totals=("points",)),
        points_pb2.PointsExpiring: Rules(point_totals=("points",)),
        points_pb2.PointsAdjusted: Rules(point_changes=("points",)),
        points_pb2.PointsReversed: Rules(
            point_parts=("points_taken", "points_owed", "points_overdrawn", "points_expired")
        ),
        points_pb2.TierReached: _TIER_CHANGE,
        points_pb2.TierLost: _TIER_CHANGE,
        points_pb2.TierAtRisk: Rules(tiers=("tier", "projected_tier"), decimals=("qualifying_value", "needed_to_keep")),
        # A closure forfeits the whole balance; 0 when nothing was left.
        points_pb2.MemberClosed: Rules(point_total_parts=("points_forfeited",), times=("closed_at",)),
        rewards_pb2.RewardRedeemed: Rules(point_parts=("points",), names=(("reward_name", MAX_REWARD_NAME),)),
        rewards_pb2.PerkGranted: Rules(names=(("reward_name", MAX_REWARD_NAME),)),
        rewards_pb2.RedemptionCancelled: Rules(point_parts=("points_returned",)),
        tickets_pb2.GoodwillGranted: Rules(times=("granted_at",)),
    }
)


def check_event(payload: Message, now: datetime | None = None) -> None:
    """InvalidArgument naming every field of `payload` out of the bounds of its type (RULES) as of `now`, the
    receiving clock (the system's by default)."""
    rules = RULES.get(payload.DESCRIPTOR.full_name)
    if rules is None:
        return
    violations = Violations()
    _check_amounts(violations, payload, rules)
    _check_texts(violations, payload, rules)
    _check_times(violations, payload, rules, now or datetime.now(UTC))
    violations.raise_if_any()


def _check_amounts(violations: Violations, payload: Message, rules: Rules) -> None:
    for name in rules.points:
        check_points(violations, name, getattr(payload, name))
    for name in rules.point_parts:
        check_points(violations, name, getattr(payload, name), zero=True)
    for name in rules.point_changes:
        check_points(violations, name, getattr(payload, name), signed=True)
    for name in rules.point_totals:
        check_points(violations, name, getattr(payload, name), most=MAX_POINTS_TOTAL)
    for name in rules.point_total_parts:
        check_points(violations, name, getattr(payload, name), zero=True, most=MAX_POINTS_TOTAL)
    for name in rules.money:
        if payload.HasField(name):
            _check_money(violations, name, getattr(payload, name))


def _check_money(violations: Violations, name: str, money: Money) -> None:
    check_amount_minor(violations, f"{name}.amount_minor", money.amount_minor)
    if refusal := currency_refusal(money.currency_code):
        violations.add(f"{name}.currency_code", refusal)


def _check_texts(violations: Violations, payload: Message, rules: Rules) -> None:
    for name in rules.tiers:
        check_tier_name(violations, name, getattr(payload, name))
    for name in rules.optional_tiers:
        if getattr(payload, name):
            check_tier_name(violations, name, getattr(payload, name))
    for name in rules.decimals:
        text = getattr(payload, name)
        if text and not _PLAIN_DECIMAL.fullmatch(text):
            violations.add(name, "must be a decimal number in plain notation, such as 1250.50")
    for name, most in rules.names:
        check_line(violations, name, getattr(payload, name), max_length=most)


def _check_times(violations: Violations, payload: Message, rules: Rules, now: datetime) -> None:
    for name in rules.required_times:
        if not payload.HasField(name):
            violations.add(name, "is required")
    for name in (*rules.times, *rules.required_times):
        if payload.HasField(name):
            # A Timestamp out of range never gets here: decoding dead-letters it (services/common/unstorable.py).
            check_not_ahead(violations, name, getattr(payload, name).ToDatetime(tzinfo=UTC), now)
