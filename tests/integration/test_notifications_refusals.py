"""Events notifications cannot make a message of are dead-lettered naming the field; the scheduler drains."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2

from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.notifications import store
from services.notifications.domain import Channel, Preferences
from services.notifications.scheduler import SchedulerJob
from tests.integration.notifications_support import NOON, NotificationsWorld
from tests.integration.support import DeadLettersSentOrNot, delivered_event
from tests.integration.test_notifications_flow import world

__all__ = ["world"]

# 9999-12-31T23:59:59Z: a valid Timestamp, whose day in a zone east of UTC is past what a date can hold.
END_OF_TIME = Timestamp(seconds=253402300799)
CONSUMER_OF = {
    POINTS_EVENTS_TOPIC: "notifications.points",
    REWARDS_EVENTS_TOPIC: "notifications.rewards",
    TICKETS_EVENTS_TOPIC: "notifications.tickets",
}


async def member_in(world: NotificationsWorld, zone: str) -> str:
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    async with world.pool.acquire() as connection:
        await store.enrol_member(connection, member_id, "Ada", True, None, "member", NOON)
        chosen = Preferences(member_id, frozenset({Channel.EMAIL}), frozenset(), zone, None)
        await store.save_preferences(connection, chosen, NOON)
    return member_id


async def dead_letter_reasons(world: NotificationsWorld, topic: str, member_id: str, payload: Message) -> list[str]:
    """Deliver one event to the notifications consumer of `topic`; the reasons it was dead-lettered for."""
    [consumer] = [c for c in world.parts.consumers if c.name == CONSUMER_OF[topic]]
    envelope = new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))
    dead_letters = DeadLettersSentOrNot()
    await consumer.process([delivered_event(topic, envelope)], dead_letters)  # type: ignore[arg-type]
    return dead_letters.reasons


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (points_pb2.PointsExpiring(points=10, expires_at=END_OF_TIME), "expires_at"),
        (
            points_pb2.TierAtRisk(tier="gold", projected_tier="silver", requalify_at=END_OF_TIME),
            "requalify_at",
        ),
    ],
)
async def test_a_date_beyond_the_calendar_in_the_members_zone_is_dead_lettered_naming_it(
    world: NotificationsWorld, event: Message, field: str
) -> None:
    member_id = await member_in(world, "Asia/Tokyo")
    event.member_id = member_id  # type: ignore[attr-defined]
    [reason] = await dead_letter_reasons(world, POINTS_EVENTS_TOPIC, member_id, event)
    assert reason.startswith(f"{field}: is out of range")


@pytest.mark.parametrize(
    ("topic", "event", "reason"),
    [
        (
            POINTS_EVENTS_TOPIC,
            points_pb2.TierAtRisk(tier="gold", requalify_at=Timestamp(seconds=1_800_000_000)),
            "projected_tier: is required",
        ),
        (POINTS_EVENTS_TOPIC, points_pb2.TierReached(previous_tier="member"), "tier: is required"),
        (POINTS_EVENTS_TOPIC, points_pb2.TierLost(previous_tier="gold"), "tier: is required"),
        (REWARDS_EVENTS_TOPIC, rewards_pb2.RedemptionCancelled(reward_id="r-1"), "redemption_id: is required"),
        (REWARDS_EVENTS_TOPIC, rewards_pb2.RewardRedeemed(reward_id="r-1", points=500), "code: is required"),
        (
            TICKETS_EVENTS_TOPIC,
            tickets_pb2.TicketResolved(ticket_id="t" * 4000),
            "ticket_id: must be at most 256 characters, got 4000",
        ),
    ],
)
async def test_an_event_that_would_make_a_message_with_blanks_or_no_key_is_dead_lettered(
    world: NotificationsWorld, topic: str, event: Message, reason: str
) -> None:
    member_id = await member_in(world, "UTC")
    event.member_id = member_id  # type: ignore[attr-defined]
    assert await dead_letter_reasons(world, topic, member_id, event) == [reason]
    assert await world.pool.fetchval("SELECT count(*) FROM notifications WHERE member_id = $1", member_id) == 0


async def test_one_scheduler_pass_releases_everything_due_a_batch_at_a_time(world: NotificationsWorld) -> None:
    job = SchedulerJob(world.pool, world.scheduler._notifier, world.clock, batch=2)
    member_id = await member_in(world, "UTC")
    due = NOON - timedelta(minutes=1)
    async with world.pool.acquire() as connection:
        for n in range(5):  # held by quiet hours, all due now
            variables = {"given_name": "", "ticket_id": f"t{n}", "ticket_category": "billing"}
            message = store.Message(
                uuid.uuid4(), f"k{n}:{member_id}", member_id, "ticket_opened", Channel.EMAIL, variables, "", due
            )
            await store.insert_message(connection, message, due, sent=False)
    assert (await job.run_once(NOON)).messages_released == 5
    assert (await job.run_once(NOON)).messages_released == 0
