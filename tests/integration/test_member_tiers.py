"""The tier view rewards and tickets keep from points events, consumed from the real broker."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common import settings
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.events import EVENT_ID_SHAPE, kafka_headers, new_envelope, timestamp
from services.common.member_tiers import _set_tier, member_tiers_consumer, require_open, tier_of
from services.common.settings import KafkaSettings, ServiceSettings
from services.common.tier_names import TIER_NAME_SHAPE
from tests.integration.support import (
    DeadLettersSentOrNot,
    PoolFactory,
    TopicFactory,
    delivered_event,
    eventually,
    running,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def tier_event(payload: Message, member_id: str, at: datetime) -> EventEnvelope:
    return new_envelope(payload, subject=member_id, source="loyalty.points", occurred_at=at)


def enrolment(member_id: str, at: datetime, **fields: object) -> events.MemberEnrolled:
    """A MemberEnrolled as the points service makes it (in the base tier, enrolled at `at`), but for `fields`."""
    made = {"member_id": member_id, "tier": "base", "enrolled_at": timestamp(at)}
    return events.MemberEnrolled(**{**made, **fields})  # type: ignore[arg-type]


def service_settings(url: str, kafka: KafkaSettings) -> ServiceSettings:
    return replace(settings.service_settings("rewards", {"LOYALTY_REWARDS_DATABASE_URL": url}), kafka=kafka)


async def test_late_and_repeated_tier_events_never_overwrite_a_newer_tier(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> None:
    url, pool = await migrated_pool("rewards")
    # Its own topic: the consumer reads from the earliest offset, and the session's points topic carries other
    # tests' malformed events (an unparsable record, tier events with no tier), which it would dead-letter.
    topic = await fresh_topic("points-events")
    member = f"m-{uuid.uuid4().hex[:8]}"
    enrolled = tier_event(enrolment(member, T0), member, T0)
    gold = tier_event(
        events.TierReached(member_id=member, tier="gold", previous_tier="silver"), member, T0 + timedelta(days=30)
    )
    # Happened before gold but arrives after it (and after a redelivery of gold).
    silver = tier_event(
        events.TierReached(member_id=member, tier="silver", previous_tier="base"), member, T0 + timedelta(days=10)
    )
    for envelope in (gold, gold, silver, enrolled):
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member.encode(), headers=kafka_headers(envelope)
        )
    consumer = member_tiers_consumer(service_settings(url, kafka_settings), pool, topic)

    async def seen(*envelopes: EventEnvelope) -> bool:
        ids = [e.event_id for e in envelopes]
        count = await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::text[])", consumer.name, ids
        )
        return bool(count == len(ids))

    async with running(consumer.run):
        await eventually(lambda: seen(gold, silver, enrolled), what="every tier event to be consumed")
        assert await tier_of(pool, member) == "gold"
        row = await pool.fetchrow("SELECT tier, changed_at FROM member_tiers WHERE member_id = $1", member)
        assert (row["tier"], row["changed_at"]) == ("gold", T0 + timedelta(days=30))

        lost = tier_event(
            events.TierLost(member_id=member, tier="silver", previous_tier="gold"), member, T0 + timedelta(days=400)
        )
        await producer.send_and_wait(topic, lost.SerializeToString(), key=member.encode(), headers=kafka_headers(lost))
        await eventually(lambda: seen(lost), what="the TierLost event to be consumed")
        assert await tier_of(pool, member) == "silver"
    assert consumer.dead_lettered == 0


async def test_tier_of_names_the_field(migrated_pool: PoolFactory) -> None:
    _, pool = await migrated_pool("tickets")
    with pytest.raises(InvalidArgument) as caught:
        await tier_of(pool, "")
    assert [v.field for v in caught.value.violations] == ["member_id"]
    with pytest.raises(NotFound, match="member_id"):
        await tier_of(pool, "nobody")


async def test_an_equally_old_change_is_applied_but_an_older_one_is_not(migrated_pool: PoolFactory) -> None:
    _, pool = await migrated_pool("tickets")
    # The upsert the consumer runs, exercised directly on the table it owns.
    async with pool.acquire() as connection:
        await _set_tier(connection, "m-1", "gold", T0)
        await _set_tier(connection, "m-1", "silver", T0 - timedelta(microseconds=1))
        assert await tier_of(pool, "m-1") == "gold"
        await _set_tier(connection, "m-1", "platinum", T0)
        assert await tier_of(pool, "m-1") == "platinum"


async def test_malformed_tier_events_are_dead_lettered_and_change_no_tier(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> None:
    url, pool = await migrated_pool("tickets")
    topic = await fresh_topic("points-events")  # its own: malformed events on the session's topic would reach others
    member = f"m-{uuid.uuid4().hex[:8]}"
    undated = tier_event(events.TierReached(member_id=member, tier="gold", previous_tier="base"), member, T0)
    undated.ClearField("occurred_at")
    malformed = [
        tier_event(events.TierReached(member_id=member, tier="", previous_tier="base"), member, T0),
        tier_event(enrolment("", T0), "", T0),
        tier_event(enrolment("not a member id", T0), member, T0),
        undated,
    ]
    enrolled = tier_event(enrolment(member, T0), member, T0)
    for envelope in [*malformed, enrolled]:
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member.encode(), headers=kafka_headers(envelope)
        )
    consumer = member_tiers_consumer(service_settings(url, kafka_settings), pool, topic)

    async def all_taken() -> bool:
        return (
            consumer.dead_lettered == len(malformed) and await pool.fetchval("SELECT count(*) FROM member_tiers") == 1
        )

    async with running(consumer.run):
        await eventually(all_taken, what="the malformed events dead-lettered and the enrolment applied")
    assert [tuple(r) for r in await pool.fetch("SELECT member_id, tier FROM member_tiers")] == [(member, "base")]


async def test_a_closure_is_recorded_once_whenever_it_arrives(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> None:
    url, pool = await migrated_pool("rewards")  # rewards keeps the view too: its migrations must hold closures
    topic = await fresh_topic("points-events")
    member = f"m-{uuid.uuid4().hex[:8]}"
    closed = events.MemberClosed(member_id=member, reason="member request", actor="agent-7")
    closed.closed_at.FromDatetime(T0 + timedelta(days=5))
    closure = tier_event(closed, member, T0 + timedelta(days=5))
    # The same closure announced again as a new event (not only redelivered): the first closure read stands.
    later = events.MemberClosed()
    later.CopyFrom(closed)
    later.closed_at.FromDatetime(T0 + timedelta(days=6))
    again = tier_event(later, member, T0 + timedelta(days=6))
    enrolled = tier_event(enrolment(member, T0), member, T0)
    # Read before the member's enrolment, and redelivered.
    for envelope in (closure, enrolled, closure, again):
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member.encode(), headers=kafka_headers(envelope)
        )
    consumer = member_tiers_consumer(service_settings(url, kafka_settings), pool, topic)

    async def consumed() -> bool:
        count = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer.name)
        return bool(count == 3)

    async with running(consumer.run):
        await eventually(consumed, what="the closures and the enrolment to be consumed")
    rows = await pool.fetch("SELECT closed_at FROM member_closures WHERE member_id = $1", member)
    assert [r["closed_at"] for r in rows] == [T0 + timedelta(days=5)]
    assert await tier_of(pool, member) == "base"  # a closed member's tier is still known
    async with pool.acquire() as connection:
        with pytest.raises(FailedPrecondition) as refused:
            await require_open(connection, member, "nothing more")
    assert refused.value.message == f"member_id: member {member!r} is closed: nothing more"
    assert consumer.dead_lettered == 0


@pytest.mark.parametrize("service", ["rewards", "tickets"])
async def test_tiers_and_times_out_of_their_bounds_are_dead_lettered_and_the_next_enrolment_applies(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, service: str
) -> None:
    url, pool = await migrated_pool(service)
    consumer = member_tiers_consumer(service_settings(url, kafka_settings), pool)
    member, now = f"m-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    endless = tier_event(enrolment(member, now, tier="gold"), member, now)
    endless.event_id = "e" * 5000  # too long for the inbox's index: its whole batch failed
    refused = [
        endless,
        tier_event(enrolment(member, now, tier="g" * 300_000), member, now),
        tier_event(events.MemberEnrolled(member_id=member, tier="gold"), member, now),
        tier_event(enrolment(member, datetime(9999, 1, 1, tzinfo=UTC), tier="gold"), member, now),
        tier_event(events.TierReached(member_id=member, tier="Gold Star\n", qualifying_value="NaN"), member, now),
    ]
    genuine = tier_event(enrolment(member, now), member, now + timedelta(seconds=1))
    dead_letters = DeadLettersSentOrNot()
    records = [delivered_event(consumer.topic, e, offset) for offset, e in enumerate([*refused, genuine])]
    await consumer.process(records, dead_letters)  # type: ignore[arg-type]
    assert dead_letters.reasons == [
        f"envelope.event_id must be a UUID ({EVENT_ID_SHAPE})",
        f"tier: must be {TIER_NAME_SHAPE}",
        "enrolled_at: is required",
        "enrolled_at: must not be more than 24 hours in the future",
        f"tier: 'Gold Star\\n' must be {TIER_NAME_SHAPE};"
        " qualifying_value: must be a decimal number in plain notation, such as 1250.50",
    ]
    assert await tier_of(pool, member) == "base"
