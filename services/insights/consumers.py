"""Kafka handlers that keep the insights read model from the platform's event topics.

Each consumer runs through the kit's inbox (a redelivery changes nothing) and
dead-letters what cannot be a fact: an event without its member or a survey
score out of range here, an amount out of its bounds (which every later report
summing it would fail on) by the rules every consumer holds events to
(services/common/event_fields.py). Facts are recorded at the time the event
says they happened, so a late event still lands in its own window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, rewards_pb2, tickets_pb2
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.activity_time import check_activity_time
from services.common.errors import Violations
from services.common.events import event_types_of, occurred_at
from services.common.kafka import POINTS_EVENTS_TOPIC, PURCHASES_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.common.read_model import ReadModelConsumer, WriteHandler, Writes
from services.common.settings import KafkaSettings
from services.insights import store


def _check(payload: Message, *, required: tuple[str, ...]) -> None:
    violations = Violations()
    for name in required:
        value = getattr(payload, name)
        if not (payload.HasField(name) if isinstance(value, Message) else value):
            violations.add(name, "is required")
    violations.raise_if_any()


async def _purchase(writes: Writes, purchase_id: str, member_id: str, amount: Money, at: datetime) -> None:
    """`amount` held to its bounds already (event_fields)."""
    await store.record_purchase(writes, purchase_id, member_id, amount.amount_minor, amount.currency_code, at)


def _time(message: Message, field: str, otherwise: datetime) -> datetime:
    """A Timestamp field of `message` as an aware datetime; `otherwise` when unset."""
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else otherwise


async def _points(
    writes: Writes,
    envelope: EventEnvelope,
    member_id: str,
    kind: str,
    points: int,
    partner_id: str | None = None,
) -> None:
    at = occurred_at(envelope)
    await store.record_points(writes, envelope.event_id, member_id, kind, points, at, partner_id)


# -- points.events.v1 -----------------------------------------------------------------------------


async def _enrolled(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_events.MemberEnrolled)
    _check(payload, required=("member_id",))
    at = payload.enrolled_at.ToDatetime(tzinfo=UTC)
    await store.record_member(writes, payload.member_id, at)
    await store.record_tier_change(writes, envelope.event_id, payload.member_id, payload.tier, None, False, at)


async def _tier_changed(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_events.TierReached | points_events.TierLost)
    _check(payload, required=("member_id",))
    upgrade = isinstance(payload, points_events.TierReached)
    await store.record_tier_change(
        writes,
        envelope.event_id,
        payload.member_id,
        payload.tier,
        payload.previous_tier,
        upgrade,
        occurred_at(envelope),
    )


async def _earned(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_events.PointsEarned)
    _check(payload, required=("member_id",))
    await _points(writes, envelope, payload.member_id, "earned", payload.points, payload.partner_id or None)
    if payload.HasField("purchase_amount"):
        # A purchase recorded over gRPC reaches insights only this way.
        _check(payload, required=("source_reference",))
        bought_at = _time(payload, "purchase_occurred_at", occurred_at(envelope))
        await _purchase(writes, payload.source_reference, payload.member_id, payload.purchase_amount, bought_at)


def _debit(kind: str) -> WriteHandler:
    async def handle(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
        assert isinstance(payload, points_events.PointsRedeemed | points_events.PointsExpired)
        _check(payload, required=("member_id",))
        await _points(writes, envelope, payload.member_id, kind, -payload.points)

    return handle


async def _adjusted(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, points_events.PointsAdjusted)
    _check(payload, required=("member_id",))
    await _points(writes, envelope, payload.member_id, "adjusted", payload.points)


async def _reversed(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    """A refund takes back points_taken now and points_owed from later earnings: the liability drops by both."""
    assert isinstance(payload, points_events.PointsReversed)
    _check(payload, required=("member_id",))
    await _points(writes, envelope, payload.member_id, "reversed", -(payload.points_taken + payload.points_owed))


POINTS_HANDLERS: Mapping[type[Message], WriteHandler] = {
    points_events.MemberEnrolled: _enrolled,
    points_events.TierReached: _tier_changed,
    points_events.TierLost: _tier_changed,
    points_events.PointsEarned: _earned,
    points_events.PointsRedeemed: _debit("redeemed"),
    points_events.PointsExpired: _debit("expired"),
    points_events.PointsAdjusted: _adjusted,
    points_events.PointsReversed: _reversed,
}

# -- commerce.purchases.v1 ------------------------------------------------------------------------


async def _purchase_made(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    _check(payload, required=("purchase_id", "member_id", "amount", "occurred_at"))
    bought_at = _time(payload, "occurred_at", occurred_at(envelope))
    # The points service refuses such a purchase; counting it here would report a sale no one recorded.
    violations = Violations()
    check_activity_time(violations, "occurred_at", bought_at, datetime.now(UTC))
    violations.raise_if_any()
    await _purchase(writes, payload.purchase_id, payload.member_id, payload.amount, bought_at)


# -- rewards.events.v1 ----------------------------------------------------------------------------


async def _reward_redeemed(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, rewards_pb2.RewardRedeemed)
    _check(payload, required=("redemption_id", "member_id"))
    await store.record_redemption(
        writes, payload.redemption_id, payload.member_id, payload.points, occurred_at(envelope)
    )


async def _redemption_cancelled(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, rewards_pb2.RedemptionCancelled)
    _check(payload, required=("redemption_id", "member_id"))
    await store.record_cancellation(writes, payload.redemption_id, payload.member_id, occurred_at(envelope))


# -- tickets.events.v1 ----------------------------------------------------------------------------

_SCALES = {"effort": range(1, 8), "satisfaction": range(1, 6), "recommend": range(0, 11)}


async def _survey(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    assert isinstance(payload, tickets_pb2.SurveySubmitted)
    _check(payload, required=("ticket_id", "member_id"))
    violations = Violations()
    for name, scale in _SCALES.items():
        if getattr(payload, name) not in scale:
            violations.add(name, f"must be between {scale.start} and {scale.stop - 1}")
    violations.raise_if_any()
    answer = (payload.effort, payload.satisfaction, payload.recommend)
    await store.record_survey(writes, payload.ticket_id, payload.member_id, answer, occurred_at(envelope))


def _by_name(handlers: Mapping[type[Message], WriteHandler]) -> dict[str, WriteHandler]:
    return {kind.DESCRIPTOR.full_name: handler for kind, handler in handlers.items()}


@dataclass(frozen=True)
class Topics:
    """Where the facts come from (tests give topics of their own)."""

    points: str = POINTS_EVENTS_TOPIC
    purchases: str = PURCHASES_TOPIC
    rewards: str = REWARDS_EVENTS_TOPIC
    tickets: str = TICKETS_EVENTS_TOPIC


def insights_consumers(pool: asyncpg.Pool, kafka: KafkaSettings, topics: Topics = Topics()) -> list[ReadModelConsumer]:
    """One consumer group per topic the read model learns from."""
    # (topic, the platform topic it is or stands for, handlers)
    handlers: list[tuple[str, str, Mapping[type[Message], WriteHandler]]] = [
        (topics.points, POINTS_EVENTS_TOPIC, POINTS_HANDLERS),
        (topics.purchases, PURCHASES_TOPIC, {commerce_pb2.PurchaseMade: _purchase_made}),
        (
            topics.rewards,
            REWARDS_EVENTS_TOPIC,
            {rewards_pb2.RewardRedeemed: _reward_redeemed, rewards_pb2.RedemptionCancelled: _redemption_cancelled},
        ),
        (topics.tickets, TICKETS_EVENTS_TOPIC, {tickets_pb2.SurveySubmitted: _survey}),
    ]
    return [
        ReadModelConsumer(
            name=f"insights.{topic}",
            topic=topic,
            pool=pool,
            kafka=kafka,
            handlers=_by_name(by_type),
            carries=event_types_of(platform_topic),
        )
        for topic, platform_topic, by_type in handlers
    ]
