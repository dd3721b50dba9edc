"""A closed member (MemberClosed) is sent nothing more: what quiet hours held is cancelled, later triggers withheld."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import points_pb2

from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import KafkaSettings
from tests.integration.notifications_support import NOON, NotificationsWorld, publish, started_notifications
from tests.integration.support import PoolFactory, eventually, running


@pytest.fixture
async def world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    async with started_notifications(migrated_pool, kafka_settings) as started:
        yield started


async def consumed(world: NotificationsWorld, event_ids: list[str]) -> None:
    async def all_in_inbox() -> bool:
        count = await world.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", event_ids)
        return bool(count == len(event_ids))

    await eventually(all_in_inbox, what=f"events {event_ids} consumed")


async def test_closing_a_member_cancels_held_messages_and_withholds_later_ones(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    world.clock.now = datetime(2027, 6, 15, 22, tzinfo=UTC)  # in the default quiet hours (UTC): messages are held
    enrolled = points_pb2.MemberEnrolled(
        enrolled_at=timestamp(datetime.now(UTC)),
        member_id=member_id,
        tier="member",
        given_name="Ada",
        email_on_file=True,
    )
    closed = points_pb2.MemberClosed(member_id=member_id, reason="member request", actor="agent-7")
    reached = points_pb2.TierReached(member_id=member_id, tier="gold")
    expiring = points_pb2.PointsExpiring(member_id=member_id, points=9, expires_at=timestamp(NOON + timedelta(days=9)))
    async with running(*world.workers()):
        before = [await publish(producer, POINTS_EVENTS_TOPIC, member_id, event) for event in (enrolled, expiring)]
        await consumed(world, before)
        assert await world.status_counts(member_id) == {"scheduled": 2}  # welcome and the reminder
        after = [await publish(producer, POINTS_EVENTS_TOPIC, member_id, event) for event in (closed, reached)]
        await consumed(world, after)

    assert await world.status_counts(member_id) == {"cancelled": 2}
    reasons = await world.pool.fetch("SELECT DISTINCT cancel_reason FROM notifications WHERE member_id = $1", member_id)
    assert [row["cancel_reason"] for row in reasons] == ["member is closed"]
    world.clock.now = datetime(2027, 6, 16, 9, tzinfo=UTC)  # quiet hours over: nothing is left to release
    assert (await world.scheduler.run_once()).messages_released == 0
