"""A message that can never be sent: refused when its event is read, and never held where it blocks others.

Every message to a member carries their given name (in its variables and its rendered text), so a name no
message could carry is refused with the MemberEnrolled that brings it. A message already held for quiet hours
that cannot be sent (its member stored before that check) is cancelled with the reason when it falls due,
and the messages due with it still go out.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from loyalty.events.v1 import points_pb2

from services.common.event_consumer import EventConsumer
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import KafkaSettings
from services.notifications import store
from services.notifications.triggers import MAX_NAME_LENGTH
from tests.integration.notifications_support import NOON, NotificationsWorld, started_notifications
from tests.integration.support import DeadLettersSentOrNot, PoolFactory, delivered_event

NIGHT = NOON.replace(hour=23)  # in the default quiet hours, 21:00-08:00
MORNING = NOON.replace(hour=9) + timedelta(days=1)
# Twice the name, in its variables and its text: more than a message on the broker may be.
UNSENDABLE_NAME = "A" * 600_000


@pytest.fixture
async def world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[NotificationsWorld]:
    async with started_notifications(migrated_pool, kafka_settings) as started:
        yield started


def points_consumer(world: NotificationsWorld) -> EventConsumer:
    [consumer] = [c for c in world.parts.consumers if c.name == "notifications.points"]
    assert isinstance(consumer, EventConsumer)
    return consumer


def new_member() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


async def test_a_member_enrolled_with_a_name_longer_than_points_allows_is_dead_lettered_naming_it(
    world: NotificationsWorld,
) -> None:
    world.clock.now = NOON
    long_name, fitting_name = new_member(), new_member()
    events = [
        points_pb2.MemberEnrolled(
            enrolled_at=timestamp(datetime.now(UTC)),
            tier="member",
            member_id=long_name,
            given_name="A" * (MAX_NAME_LENGTH + 1),
            email_on_file=True,
        ),
        points_pb2.MemberEnrolled(
            enrolled_at=timestamp(datetime.now(UTC)),
            tier="member",
            member_id=fitting_name,
            given_name="A" * MAX_NAME_LENGTH,
            email_on_file=True,
        ),
    ]
    records = [
        delivered_event(POINTS_EVENTS_TOPIC, new_envelope(e, subject=e.member_id, source="tests", occurred_at=NOON), i)
        for i, e in enumerate(events)
    ]
    dead_letters = DeadLettersSentOrNot()

    await points_consumer(world).process(records, dead_letters)  # type: ignore[arg-type]

    assert len(dead_letters.reasons) == 1 and "given_name" in dead_letters.reasons[0], dead_letters.reasons
    assert await world.status_counts(long_name) == {}
    assert await world.status_counts(fitting_name) == {"sent": 1}


async def test_a_held_message_that_cannot_be_sent_is_cancelled_and_the_others_due_with_it_are_sent(
    world: NotificationsWorld,
) -> None:
    world.clock.now = NIGHT
    stored_before_the_check, neighbour = new_member(), new_member()
    async with world.pool.acquire() as connection:
        await store.enrol_member(connection, stored_before_the_check, UNSENDABLE_NAME, True, None, "member", NIGHT)
        await store.enrol_member(connection, neighbour, "Ada", True, None, "member", NIGHT)
    reached = [
        points_pb2.TierReached(member_id=member, previous_tier="member", tier="gold", qualifying_value="5000")
        for member in (stored_before_the_check, neighbour)
    ]
    records = [
        delivered_event(POINTS_EVENTS_TOPIC, new_envelope(e, subject=e.member_id, source="tests", occurred_at=NIGHT), i)
        for i, e in enumerate(reached)
    ]
    await points_consumer(world).process(records, DeadLettersSentOrNot())  # type: ignore[arg-type]
    assert await world.status_counts(stored_before_the_check) == {"scheduled": 1}

    world.clock.now = MORNING
    await world.scheduler.run_once(MORNING)
    await world.scheduler.run_once(MORNING + timedelta(minutes=1))

    assert await world.status_counts(neighbour) == {"sent": 1}
    assert await world.status_counts(stored_before_the_check) == {"cancelled": 1}
    reason = await world.pool.fetchval(
        "SELECT cancel_reason FROM notifications WHERE member_id = $1", stored_before_the_check
    )
    assert reason.startswith("cannot be sent:"), reason
