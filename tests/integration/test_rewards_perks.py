"""Perks: welcome perks on TierReached from the real broker, exactly once; birthday rewards once a year."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1 import rewards_pb2 as reward_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.rewards.v1 import catalog_pb2, codes_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.event_consumer import EventConsumer
from services.common.events import kafka_headers, new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC, dead_letter_topic
from services.common.settings import KafkaSettings
from services.rewards.perks import BirthdayJob
from tests.integration.rewards_support import RewardsWorld
from tests.integration.support import eventually, header, read_topic, running


def perk(trigger: int, **fields: object) -> dict[str, object]:
    """A free-shipping upgrade granted at zero points."""
    upgrade = {"kind": catalog_pb2.REWARD_KIND_UPGRADE, "sku": "free-shipping", "amount": None}
    return {"trigger": trigger, "cost_points": 0, **upgrade, **fields}


async def publish(
    producer: AIOKafkaProducer, member_id: str, payload: Message, occurred_at: datetime | None = None
) -> str:
    """Publish as the points service does (stamped now, or `occurred_at`); returns the event id."""
    stamp = occurred_at or datetime.now(UTC)
    envelope = new_envelope(payload, subject=member_id, source="loyalty.points", occurred_at=stamp)
    await producer.send_and_wait(
        POINTS_EVENTS_TOPIC, envelope.SerializeToString(), key=member_id.encode(), headers=kafka_headers(envelope)
    )
    return envelope.event_id


async def perks_consumed(rewards_world: RewardsWorld, event_ids: list[str]) -> EventConsumer:
    """Run the perks consumer until it has taken every one of the events (applied or dead-lettered)."""
    consumer = next(c for c in rewards_world.parts.consumers if c.name == "rewards.perks")

    async def all_taken() -> bool:
        count = await rewards_world.rewards_pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::text[])", consumer.name, event_ids
        )
        return bool(count == len(event_ids))

    async with running(consumer.run):
        await eventually(all_taken, what="every perk event consumed")
    return consumer


async def perks_of(rewards_world: RewardsWorld, member_id: str) -> list[pb.Redemption]:
    return list(
        (await rewards_world.rewards.ListRedemptions(pb.ListRedemptionsRequest(member_id=member_id))).redemptions
    )


async def test_reaching_a_tier_grants_its_welcome_perk_once_even_when_reached_twice(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer
) -> None:
    welcome = await rewards_world.reward(
        **perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", name="Gold")
    )
    await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="silver", name="Silver"))
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    reached = events.TierReached(member_id=member_id, tier="gold", previous_tier="silver")
    # Two distinct events (a member qualifying for gold again), not a redelivery the inbox would absorb.
    event_ids = [await publish(producer, member_id, reached) for _ in range(2)]
    await perks_consumed(rewards_world, event_ids)

    granted = await perks_of(rewards_world, member_id)
    assert len(granted) == 1
    assert (granted[0].reward_id, granted[0].points, granted[0].occasion) == (
        welcome.reward_id,
        0,
        pb.OCCASION_TIER_WELCOME,
    )
    check = await rewards_world.codes.ValidateCode(codes_pb2.ValidateCodeRequest(code=granted[0].code))
    assert check.usable and check.member_id == member_id and check.value.sku == "free-shipping"
    # Other tests' members reach tiers on the same topic too: only this member's events count.
    envelopes = await rewards_world.rewards_pool.fetch("SELECT envelope FROM outbox WHERE message_key = $1", member_id)
    assert len(envelopes) == 1
    announced = reward_events.PerkGranted()
    assert EventEnvelope.FromString(envelopes[0]["envelope"]).payload.Unpack(announced)
    assert (announced.member_id, announced.tier, announced.code) == (member_id, "gold", granted[0].code)
    assert announced.reward_name == "Gold"  # what the member's message calls it, never the reward's id


async def test_birthday_rewards_are_granted_on_the_birthday_once_a_year(rewards_world: RewardsWorld) -> None:
    birthday = await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_BIRTHDAY, name="Birthday treat"))
    for member_id, born in (("leap", date(2000, 2, 29)), ("march", date(1990, 3, 1)), ("feb28", date(1985, 2, 28))):
        await rewards_world.rewards_pool.execute("INSERT INTO member_birthdays VALUES ($1, $2)", member_id, born)
    job = BirthdayJob(rewards_world.rewards_pool)

    assert await job.run_once(date(2027, 2, 28)) == 2  # 29 February is celebrated on the 28th in common years
    assert await job.run_once(date(2027, 2, 28)) == 0
    assert await job.run_once(date(2028, 2, 28)) == 1  # a leap year: only feb28 today
    assert await job.run_once(date(2028, 2, 29)) == 1

    leap = await perks_of(rewards_world, "leap")
    assert [(r.reward_id, r.occasion) for r in leap] == [(birthday.reward_id, pb.OCCASION_BIRTHDAY)] * 2
    assert all(r.code for r in leap)


async def test_perks_with_a_minimum_tier_go_only_to_members_at_or_above_it(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer
) -> None:
    await rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=["base", "silver", "gold"]))
    treat = await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_BIRTHDAY, name="Gold treat", min_tier="gold"))
    welcome = perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="silver", name="Silver, gold only")
    await rewards_world.reward(**welcome, min_tier="gold")
    tiers = {"gold-member": "gold", "silver-member": "silver", "off-ladder": "staff", "unheard-of": None}
    for member_id, tier in tiers.items():
        await rewards_world.rewards_pool.execute(
            "INSERT INTO member_birthdays VALUES ($1, $2)", member_id, date(1990, 7, 14)
        )
        if tier is not None:
            await rewards_world.rewards_pool.execute(
                "INSERT INTO member_tiers (member_id, tier, changed_at) VALUES ($1, $2, now())", member_id, tier
            )

    assert await BirthdayJob(rewards_world.rewards_pool).run_once(date(2027, 7, 14)) == 1
    assert [r.reward_id for r in await perks_of(rewards_world, "gold-member")] == [treat.reward_id]
    for member_id in ("silver-member", "off-ladder", "unheard-of"):
        assert await perks_of(rewards_world, member_id) == []

    # Reaching silver is not reaching gold: the gated welcome is not granted.
    reached = f"m-{uuid.uuid4().hex[:8]}"
    event_id = await publish(producer, reached, events.TierReached(member_id=reached, tier="silver"))
    await perks_consumed(rewards_world, [event_id])
    assert await perks_of(rewards_world, reached) == []


async def test_enrollment_records_the_birth_date_and_a_malformed_one_is_dead_lettered(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer, kafka_settings: KafkaSettings
) -> None:
    born, garbled = f"m-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    await publish(
        producer,
        garbled,
        events.MemberEnrolled(
            enrolled_at=timestamp(datetime.now(UTC)), member_id=garbled, tier="member", birth_date="31/12/1990"
        ),
    )
    await publish(
        producer,
        born,
        events.MemberEnrolled(
            enrolled_at=timestamp(datetime.now(UTC)), member_id=born, tier="member", birth_date="1990-12-31"
        ),
    )
    consumer = next(c for c in rewards_world.parts.consumers if c.name == "rewards.perks")

    async def birth_date() -> date | None:
        found = await rewards_world.rewards_pool.fetchval(
            "SELECT birth_date FROM member_birthdays WHERE member_id = $1", born
        )
        return found if isinstance(found, date) else None

    async def dead_lettered() -> list[str | None]:
        records = await read_topic(kafka_settings, dead_letter_topic(POINTS_EVENTS_TOPIC), 1, settle=0.5)
        return [header(r, "dlq-reason") for r in records if r.key == garbled.encode()]

    async with running(consumer.run):
        assert await eventually(birth_date, what="the birth date") == date(1990, 12, 31)
        reasons = await eventually(dead_lettered, what="the malformed enrollment dead-lettered")
    assert "birth_date" in (reasons[0] or "")
    assert (
        await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM member_birthdays WHERE member_id = $1", garbled)
        == 0
    )


async def test_a_perk_out_of_stock_is_not_granted_and_takes_nothing(rewards_world: RewardsWorld) -> None:
    await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_BIRTHDAY, name="Only one cake", stock_total=1))
    for member_id in ("first", "second"):
        await rewards_world.rewards_pool.execute(
            "INSERT INTO member_birthdays VALUES ($1, $2)", member_id, date(1990, 6, 1)
        )

    assert await BirthdayJob(rewards_world.rewards_pool).run_once(date(2027, 6, 1)) == 1

    row = await rewards_world.rewards_pool.fetchrow(
        "SELECT (SELECT count(*) FROM redemptions) AS granted, stock_available FROM rewards"
    )
    assert (row["granted"], row["stock_available"]) == (1, 0)
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_a_late_tier_reached_grants_no_gated_welcome_perk_to_a_member_known_to_have_lost_the_tier(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer
) -> None:
    """The member-tiers consumer applied the later TierLost before the perks consumer got to TierReached."""
    await rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=["base", "silver", "gold"]))
    gated = perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", name="Gold lounge", min_tier="gold")
    await rewards_world.reward(**gated)
    lost, kept = f"m-{uuid.uuid4().hex[:8]}", f"m-{uuid.uuid4().hex[:8]}"
    reached_at = datetime.now(UTC) - timedelta(hours=2)
    await rewards_world.rewards_pool.execute(
        "INSERT INTO member_tiers (member_id, tier, changed_at) VALUES ($1, 'silver', $2), ($3, 'gold', $4)",
        lost,
        reached_at + timedelta(hours=1),  # lost gold an hour after reaching it
        kept,
        reached_at,
    )
    event_ids = [
        await publish(producer, member, events.TierReached(member_id=member, tier="gold"), reached_at)
        for member in (lost, kept)
    ]
    await perks_consumed(rewards_world, event_ids)
    assert await perks_of(rewards_world, lost) == []
    assert len(await perks_of(rewards_world, kept)) == 1


async def test_a_welcome_perk_is_judged_by_its_validity_when_the_tier_was_reached_not_when_the_event_is_read(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer
) -> None:
    """The perks consumer fell behind (a broker outage): it reads a TierReached two hours after it happened."""
    now = datetime.now(UTC)
    ended = await rewards_world.reward(
        **perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", name="Offered then, ended since"),
        valid_from=timestamp(now - timedelta(hours=3)),
        valid_until=timestamp(now - timedelta(hours=1)),
    )
    await rewards_world.reward(
        **perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", name="Offered only since"),
        valid_from=timestamp(now - timedelta(hours=1)),
    )
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    reached = events.TierReached(member_id=member_id, tier="gold", previous_tier="silver")
    await perks_consumed(rewards_world, [await publish(producer, member_id, reached, now - timedelta(hours=2))])

    assert [granted.reward_id for granted in await perks_of(rewards_world, member_id)] == [ended.reward_id]
