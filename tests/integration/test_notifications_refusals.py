"""Events notifications cannot make a message of are dead-lettered naming the field; the scheduler drains."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.events.v1 import points_pb2, rewards_pb2, tickets_pb2

from services.common.bounds import MAX_POINTS, MAX_REWARD_NAME
from services.common.kafka import POINTS_EVENTS_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.common.text_fields import SINGLE_LINE
from services.common.tier_names import TIER_NAME_SHAPE
from services.notifications import store
from services.notifications.domain import Channel
from services.notifications.scheduler import SchedulerJob
from tests.integration.notifications_support import NOON, NotificationsWorld, dead_letter_reasons, member_in
from tests.integration.test_notifications_flow import world

__all__ = ["world"]

# 9999-12-31T23:59:59Z: a valid Timestamp, whose day in a zone east of UTC is past what a date can hold.
END_OF_TIME = Timestamp(seconds=253402300799)


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
            f"projected_tier: is required: {TIER_NAME_SHAPE}",
        ),
        (POINTS_EVENTS_TOPIC, points_pb2.TierReached(previous_tier="member"), f"tier: is required: {TIER_NAME_SHAPE}"),
        (POINTS_EVENTS_TOPIC, points_pb2.TierLost(previous_tier="gold"), f"tier: is required: {TIER_NAME_SHAPE}"),
        (REWARDS_EVENTS_TOPIC, rewards_pb2.RedemptionCancelled(reward_id="r-1"), "redemption_id: is required"),
        (REWARDS_EVENTS_TOPIC, rewards_pb2.RewardRedeemed(reward_id="r-1", points=500), "code: is required"),
        (
            REWARDS_EVENTS_TOPIC,
            rewards_pb2.RewardRedeemed(reward_id="r-1", points=500, code="C-1\nC-2", redemption_id="x"),
            "code: " + SINGLE_LINE,
        ),
        (
            POINTS_EVENTS_TOPIC,
            points_pb2.TierReached(tier="Gold Star\n", qualifying_value="NaN"),
            "tier: 'Gold Star\\n' must be 1-32 of a-z, 0-9, '_', '-';"
            " qualifying_value: must be a decimal number in plain notation, such as 1250.50",
        ),
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


async def test_points_beyond_the_bound_are_dead_lettered_and_the_members_later_earnings_add_up(
    world: NotificationsWorld,
) -> None:
    # Accepted, they were stored in the member's summary, and every later earning then failed adding to it.
    member_id = await member_in(world, "UTC")
    too_many = points_pb2.PointsEarned(member_id=member_id, points=2**63 - 1, balance_after=2**63 - 1)
    refused = await dead_letter_reasons(world, POINTS_EVENTS_TOPIC, member_id, too_many, "notifications.earnings")
    assert refused == [f"points: must be at most {MAX_POINTS}"]
    for points in (25, 15):
        genuine = points_pb2.PointsEarned(member_id=member_id, points=points, balance_after=points)
        assert await dead_letter_reasons(world, POINTS_EVENTS_TOPIC, member_id, genuine, "notifications.earnings") == []
    summary = await world.pool.fetchrow("SELECT points, earnings FROM earned_batches WHERE member_id = $1", member_id)
    assert (summary["points"], summary["earnings"]) == (40, 2)


def redeemed(member_id: str, **fields: object) -> rewards_pb2.RewardRedeemed:
    """A RewardRedeemed as the rewards service makes it, but for `fields`."""
    made = {"redemption_id": str(uuid.uuid4()), "reward_id": "r-1", "code": "C-1", "points": 500, "reward_name": "Tea"}
    return rewards_pb2.RewardRedeemed(member_id=member_id, **{**made, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"points": -5}, "points: must not be negative"),
        ({"points": 2**63 - 1}, f"points: must be at most {MAX_POINTS}"),
        ({"reward_name": "r" * 300_000}, f"reward_name: must be at most {MAX_REWARD_NAME} characters"),
        ({"reward_name": "Free coffee\nCall +1 555 0100 to claim"}, f"reward_name: {SINGLE_LINE}"),
        ({"reward_name": "Free \u202eeeffoc"}, f"reward_name: {SINGLE_LINE}"),
    ],
    ids=["negative", "int64", "300000-characters", "line-break", "right-to-left-override"],
)
async def test_a_reward_no_message_should_tell_is_dead_lettered_naming_the_field_and_the_next_one_is_told(
    world: NotificationsWorld, fields: dict[str, object], reason: str
) -> None:
    member_id = await member_in(world, "UTC")
    assert await dead_letter_reasons(world, REWARDS_EVENTS_TOPIC, member_id, redeemed(member_id, **fields)) == [reason]
    assert await world.pool.fetchval("SELECT count(*) FROM notifications WHERE member_id = $1", member_id) == 0
    assert await dead_letter_reasons(world, REWARDS_EVENTS_TOPIC, member_id, redeemed(member_id)) == []
    assert await world.pool.fetchval("SELECT count(*) FROM notifications WHERE member_id = $1", member_id) == 1


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
