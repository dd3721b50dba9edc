"""Insights refuses amounts beyond their bounds as it consumes them: dead-lettered naming the field, and the
events after them applied. One such amount, summed with another, made every later report of its window fail
("a number is beyond what can be stored"); a negative reward price or an int64 reversal was dead-lettered with
the database's message, its DETAIL quoting the row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, points_pb2, rewards_pb2

from services.common.bounds import MAX_AMOUNT_MINOR, MAX_POINTS, MAX_POINTS_TOTAL
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC, PURCHASES_TOPIC, REWARDS_EVENTS_TOPIC
from services.common.read_model import ReadModelConsumer
from services.common.settings import KafkaSettings
from services.insights.application import InsightsApplication
from services.insights.consumers import insights_consumers
from services.insights.kpis import Window
from services.insights.settings import InsightsSettings
from tests.integration.support import DeadLettersSentOrNot, PoolFactory, delivered_event

INT64_MAX = 2**63 - 1
NOW = datetime.now(UTC)
WINDOW = Window(NOW - timedelta(days=1), NOW + timedelta(days=1))


@pytest.fixture
async def insights(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings
) -> tuple[asyncpg.Pool, InsightsApplication]:
    _, pool = await migrated_pool("insights")
    return pool, InsightsApplication(pool, InsightsSettings(0, "USD", Decimal("0.01")))


def consumer_of(pool: asyncpg.Pool, kafka: KafkaSettings, topic: str) -> ReadModelConsumer:
    [consumer] = [c for c in insights_consumers(pool, kafka) if c.topic == topic]
    return consumer


async def deliver(consumer: ReadModelConsumer, member_id: str, *payloads: Message) -> list[str]:
    """Deliver `payloads` to `consumer` in one batch, as a poll does; the reasons of its dead letters."""
    records = [
        delivered_event(consumer.topic, new_envelope(p, subject=member_id, source="tests", occurred_at=NOW), offset)
        for offset, p in enumerate(payloads)
    ]
    dead_letters = DeadLettersSentOrNot()
    await consumer.process(records, dead_letters)  # type: ignore[arg-type]
    return dead_letters.reasons


def purchase(member_id: str, amount_minor: int) -> commerce_pb2.PurchaseMade:
    return commerce_pb2.PurchaseMade(
        purchase_id=f"p-{uuid.uuid4().hex[:8]}",
        member_id=member_id,
        amount=Money(amount_minor=amount_minor, currency_code="USD"),
        occurred_at=timestamp(NOW),
    )


async def enrolled(pool: asyncpg.Pool, kafka: KafkaSettings) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    enrolment = points_pb2.MemberEnrolled(member_id=member_id, tier="base", enrolled_at=timestamp(NOW))
    assert await deliver(consumer_of(pool, kafka, POINTS_EVENTS_TOPIC), member_id, enrolment) == []
    return member_id


async def test_a_purchase_beyond_the_bound_is_dead_lettered_and_the_kpis_of_its_window_still_answer(
    insights: tuple[asyncpg.Pool, InsightsApplication], kafka_settings: KafkaSettings
) -> None:
    pool, application = insights
    member_id = await enrolled(pool, kafka_settings)
    purchases = consumer_of(pool, kafka_settings, PURCHASES_TOPIC)
    reasons = await deliver(
        purchases, member_id, purchase(member_id, 5000), purchase(member_id, INT64_MAX), purchase(member_id, 2500)
    )
    assert reasons == [f"amount.amount_minor: must be at most {MAX_AMOUNT_MINOR}"]
    assert (await application.report(WINDOW)).total.revenue_minor == 7500


async def test_points_beyond_their_bounds_are_dead_lettered_naming_the_field_and_the_kpis_still_answer(
    insights: tuple[asyncpg.Pool, InsightsApplication], kafka_settings: KafkaSettings
) -> None:
    pool, application = insights
    member_id = await enrolled(pool, kafka_settings)
    huge = Money(amount_minor=INT64_MAX, currency_code="USD")
    refused: list[Message] = [
        points_pb2.PointsEarned(member_id=member_id, points=10, source_reference="p-big", purchase_amount=huge),
        points_pb2.PointsEarned(member_id=member_id, points=INT64_MAX),
        points_pb2.PointsRedeemed(member_id=member_id, points=INT64_MAX),
        points_pb2.PointsExpired(member_id=member_id, points=INT64_MAX),
        points_pb2.PointsAdjusted(member_id=member_id, points=-(2**63)),
        points_pb2.PointsReversed(member_id=member_id, points_taken=INT64_MAX, points_owed=INT64_MAX),
    ]
    earned = points_pb2.PointsEarned(member_id=member_id, points=40)
    reasons = await deliver(consumer_of(pool, kafka_settings, POINTS_EVENTS_TOPIC), member_id, *refused, earned)
    assert reasons == [
        f"purchase_amount.amount_minor: must be at most {MAX_AMOUNT_MINOR}",
        f"points: must be at most {MAX_POINTS}",
        f"points: must be at most {MAX_POINTS}",
        f"points: must be at most {MAX_POINTS_TOTAL}",  # an expiry adds up many lots
        f"points: must be at most {MAX_POINTS} in size",
        f"points_taken: must be at most {MAX_POINTS}; points_owed: must be at most {MAX_POINTS}",
    ]
    report = (await application.report(WINDOW)).total
    assert (report.points_earned, report.points_outstanding, report.revenue_minor) == (40, 40, 0)


async def test_a_negative_reward_price_is_dead_lettered_naming_points_not_the_databases_check(
    insights: tuple[asyncpg.Pool, InsightsApplication], kafka_settings: KafkaSettings
) -> None:
    pool, application = insights
    member_id = await enrolled(pool, kafka_settings)
    rewards = consumer_of(pool, kafka_settings, REWARDS_EVENTS_TOPIC)
    negative = rewards_pb2.RewardRedeemed(redemption_id=str(uuid.uuid4()), member_id=member_id, points=-5)
    genuine = rewards_pb2.RewardRedeemed(redemption_id=str(uuid.uuid4()), member_id=member_id, points=300)
    assert await deliver(rewards, member_id, negative, genuine) == ["points: must not be negative"]
    assert (await application.report(WINDOW)).total.rewards_redeemed == 1
