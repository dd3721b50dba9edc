"""Reward messages name the reward as the catalog does, never by its id; events and held messages from before
rewards named the reward say "your reward"."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import rewards_pb2

from services.common.kafka import REWARDS_EVENTS_TOPIC
from services.notifications import store
from services.notifications.domain import Channel
from tests.integration.notifications_support import NOON, NotificationsWorld, publish, requests_for
from tests.integration.support import running
from tests.integration.test_notifications_flow import consumed, enrol, new_member, world

__all__ = ["world"]


async def test_a_redemption_and_a_perk_name_the_reward_and_older_ones_say_your_reward(
    world: NotificationsWorld, producer: AIOKafkaProducer
) -> None:
    member_id = new_member()
    coffee, lounge, unnamed = (str(uuid.uuid4()) for _ in range(3))
    async with running(*world.workers()):
        await enrol(producer, member_id)
        events = [
            rewards_pb2.RewardRedeemed(
                member_id=member_id, reward_id=coffee, reward_name="Free coffee", code="K7", points=50
            ),
            rewards_pb2.PerkGranted(
                member_id=member_id, reward_id=lounge, reward_name="Lounge pass", code="L9", occasion="birthday"
            ),
            # Written before rewards named the reward.
            rewards_pb2.RewardRedeemed(member_id=member_id, reward_id=unnamed, code="U1", points=20),
        ]
        ids = [await publish(producer, REWARDS_EVENTS_TOPIC, member_id, event) for event in events]
        await consumed(world, ids)
        # A reward message held (quiet hours) since before the trigger gave reward_name.
        async with world.pool.acquire() as connection:
            variables = {
                "given_name": "Ada",
                "reward_id": unnamed,
                "code": "H1",
                "points": "30",
                "occasion": "redemption",
            }
            held = store.Message(
                uuid.uuid4(), f"held:{uuid.uuid4()}", member_id, "reward_issued", Channel.EMAIL, variables, "", NOON
            )
            await store.insert_message(connection, held, NOON, sent=False)
        await world.scheduler.run_once()
        requests = await requests_for(world.kafka, {member_id}, at_least=5)

    bodies = {r.variables["code"]: r.body for r in requests if r.template_id == "reward_issued"}
    assert "you redeemed 50 points for Free coffee." in bodies["K7"]
    assert "here is Lounge pass, on us." in bodies["L9"]
    assert "you redeemed 20 points for your reward." in bodies["U1"]
    assert "you redeemed 30 points for your reward." in bodies["H1"]
    assert not any(reward_id in body for body in bodies.values() for reward_id in (coffee, lounge, unnamed))
