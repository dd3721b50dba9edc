"""Messages about a date, counted by the member's calendar: a message quiet hours held counts its `days_left`
from the member's local date when it goes out, to the local date it prints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import pytest
from loyalty.events.v1 import points_pb2

from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import KafkaSettings
from services.notifications.domain import QuietHours
from tests.integration.notifications_support import (
    NotificationsWorld,
    dead_letter_reasons,
    member_in,
    requests_for,
    started_notifications,
)
from tests.integration.support import PoolFactory, running

NIGHT = QuietHours(time(21), time(8))


@pytest.fixture
async def world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    async with started_notifications(migrated_pool, kafka_settings) as started:
        yield started


async def test_a_reminder_held_overnight_counts_its_days_left_from_the_members_morning(
    world: NotificationsWorld,
) -> None:
    member_id = await member_in(world, "Asia/Tokyo", NIGHT)
    world.clock.now = datetime(2026, 12, 7, 13, tzinfo=UTC)  # 22:00 on the 7th in Tokyo: quiet
    expires_at = datetime(2026, 12, 9, 14, tzinfo=UTC)  # 23:00 on the 9th in Tokyo
    expiring = points_pb2.PointsExpiring(member_id=member_id, points=10, expires_at=timestamp(expires_at))
    assert await dead_letter_reasons(world, POINTS_EVENTS_TOPIC, member_id, expiring) == []
    assert await world.status_counts(member_id) == {"scheduled": 1}

    morning_in_tokyo = datetime(2026, 12, 7, 23, tzinfo=UTC)  # 08:00 on the 8th in Tokyo, 39 hours before
    async with running(world.relay):
        assert (await world.scheduler.run_once(morning_in_tokyo)).messages_released == 1
        [request] = await requests_for(world.kafka, {member_id}, at_least=1)
    assert (request.variables["expires_on"], request.variables["days_left"]) == ("2026-12-09", "1")
    assert "10 of your points expire on 2026-12-09, tomorrow." in request.body
