"""A summary tells the member's balance when it is sent: the latest any points event stated (spending, refunds,
expiries, adjustments after the last earning included), ordered by ledger entry, not the last earning's."""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import points_pb2

from services.common.ids import new_ids
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.notifications import store
from services.notifications.domain import Channel
from tests.integration.notifications_support import NOON, SUMMARY_PERIOD, NotificationsWorld, publish, requests_for
from tests.integration.support import eventually, running
from tests.integration.test_notifications_flow import consumed, enrol, new_member, world

__all__ = ["world"]


async def read_up_to_here(
    world: NotificationsWorld, producer: AIOKafkaProducer, member_id: str, earned: points_pb2.PointsEarned | None = None
) -> None:
    """Until both consumer groups read the member's events published so far: a TierLost after them (the points
    group reads a member's events in order) and, for the earnings group, the summary counting `earned`."""
    marker = points_pb2.TierLost(member_id=member_id, tier="member", previous_tier="member")
    await consumed(world, [await publish(producer, POINTS_EVENTS_TOPIC, member_id, marker)])
    if earned is not None:
        await eventually(
            lambda: world.pool.fetchval("SELECT points > 0 FROM earned_batches WHERE member_id = $1", member_id),
            what="the earning summed",
        )


async def test_a_summary_tells_the_balance_left_after_a_redemption_not_the_one_after_the_earning(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    # Entries in the order points wrote them: +25 by hand, +100 earned, 50 spent.
    adjusted_entry, earned_entry, redeemed_entry = (str(i) for i in new_ids(3))
    async with running(*world.workers()):
        await enrol(producer, member_id)
        earned = points_pb2.PointsEarned(
            member_id=member_id, points=100, balance_after=125, ledger_entry_id=earned_entry
        )
        redeemed = points_pb2.PointsRedeemed(
            member_id=member_id, points=50, balance_after=75, ledger_entry_id=redeemed_entry
        )
        # Read last (a redelivery, or its consumer group behind the other): an earlier entry's balance loses.
        adjusted = points_pb2.PointsAdjusted(
            member_id=member_id, points=25, balance_after=25, ledger_entry_id=adjusted_entry
        )
        # Written before points stated balances in it: it says nothing about the balance.
        old_expiry = points_pb2.PointsExpired(member_id=member_id, points=10, ledger_entry_id=str(uuid.uuid4()))
        for event in (earned, redeemed, adjusted, old_expiry):
            await publish(producer, POINTS_EVENTS_TOPIC, member_id, event)
        await read_up_to_here(world, producer, member_id, earned)
        world.clock.now = NOON + SUMMARY_PERIOD
        assert (await world.scheduler.run_once()).summaries_released >= 1  # the world may hold others due
        requests = await requests_for(world.kafka, {member_id}, at_least=2)

    [summary] = [r for r in requests if r.template_id == "points_earned_summary"]
    assert (summary.variables["points_earned"], summary.variables["balance"]) == ("100", "75")
    assert "Your balance is now 75 points." in summary.body


async def test_a_summary_held_before_the_balance_changed_tells_the_balance_when_it_goes_out(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    async with running(*world.workers()):
        await enrol(producer, member_id)
        # A summary scheduled by an earlier release (as held ones were made: the last earning's balance).
        async with world.pool.acquire() as connection:
            variables = {"given_name": "Ada", "points_earned": "300", "earnings": "2", "balance": "300"}
            held = store.Message(
                uuid.uuid4(), f"summary:{uuid.uuid4()}", member_id, "points_earned_summary", Channel.EMAIL,
                variables, "", NOON,
            )  # fmt: skip
            await store.insert_message(connection, held, NOON, sent=False)
        expired = points_pb2.PointsExpired(
            member_id=member_id, points=120, balance_after=180, ledger_entry_id=str(new_ids(1)[0])
        )
        await publish(producer, POINTS_EVENTS_TOPIC, member_id, expired)
        await read_up_to_here(world, producer, member_id)
        assert (await world.scheduler.run_once()).messages_released >= 1
        requests = await requests_for(world.kafka, {member_id}, at_least=2)

    [summary] = [r for r in requests if r.template_id == "points_earned_summary"]
    assert summary.variables["balance"] == "180"
    assert "Your balance is now 180 points." in summary.body
    kept = await world.pool.fetchval(
        "SELECT variables FROM notifications WHERE notification_id = $1", held.notification_id
    )
    assert json.loads(kept)["points_earned"] == "300"
