"""Messages about a date, by the member's calendar: a message quiet hours held counts its `days_left` from the
member's local date when it goes out, to the local date it prints; and none goes out after its deadline, whether
quiet hours would hold it past it (withheld) or it was held and is released too late (cancelled)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import pytest
from loyalty.events.v1 import points_pb2
from prometheus_client import REGISTRY

from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import KafkaSettings
from services.notifications.domain import DEADLINE_PASSED, QuietHours
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


def withheld(template_id: str) -> float:
    return REGISTRY.get_sample_value("loyalty_notifications_withheld_total", {"template": template_id}) or 0.0


async def test_a_birthday_found_in_the_evening_quiet_hours_is_withheld_not_sent_the_next_day(
    world: NotificationsWorld,
) -> None:
    member_id = await member_in(world, "UTC", NIGHT, birth_date=date(1990, 12, 7))
    before = withheld("birthday")

    assert (await world.scheduler.run_once(datetime(2026, 12, 7, 21, 3, tzinfo=UTC))).birthdays_greeted == 1
    assert await world.status_counts(member_id) == {}
    assert withheld("birthday") == before + 1
    next_morning = await world.scheduler.run_once(datetime(2026, 12, 8, 8, tzinfo=UTC))
    assert (next_morning.birthdays_greeted, next_morning.messages_released) == (0, 0)


async def test_a_held_reminder_the_scheduler_reaches_after_the_expiry_is_cancelled_saying_why(
    world: NotificationsWorld,
) -> None:
    member_id = await member_in(world, "UTC", NIGHT)
    world.clock.now = datetime(2026, 12, 7, 22, tzinfo=UTC)  # quiet until 08:00, an hour before the expiry
    expires_at = datetime(2026, 12, 8, 9, tzinfo=UTC)
    expiring = points_pb2.PointsExpiring(member_id=member_id, points=10, expires_at=timestamp(expires_at))
    assert await dead_letter_reasons(world, POINTS_EVENTS_TOPIC, member_id, expiring) == []
    assert await world.status_counts(member_id) == {"scheduled": 1}
    before = withheld("points_expiring")

    # The scheduler was down from 08:00 until after the expiry.
    assert (await world.scheduler.run_once(datetime(2026, 12, 8, 9, 30, tzinfo=UTC))).messages_released == 0
    assert await world.status_counts(member_id) == {"cancelled": 1}
    reason = await world.pool.fetchval("SELECT cancel_reason FROM notifications WHERE member_id = $1", member_id)
    assert reason == DEADLINE_PASSED
    assert withheld("points_expiring") == before + 1
