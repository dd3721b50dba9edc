"""The outbox relay through a broker outage: rows stay until a broker acknowledges them.

Each test runs its own embedded broker so it can stop and kill it. The broker is
in-memory: after a restart its topics are gone, and the relay creates them again.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common import outbox
from services.common.db import unit_of_work
from services.common.embedded import EmbeddedBroker
from services.common.events import decode, new_envelope
from services.common.kafka import ensure_topics
from services.common.outbox import OutboxRelay, add_event
from services.common.settings import KafkaSettings
from tests.integration.support import PoolFactory, eventually, read_topic, running

# Long enough for the relay to try (and fail) several times; not a timing assertion.
OUTAGE_OBSERVATION_S = 3.0


@pytest.fixture
def own_kafka(own_broker: EmbeddedBroker, kafka_settings: KafkaSettings) -> KafkaSettings:
    return replace(kafka_settings, bootstrap=own_broker.bootstrap, idempotence=False, partitions=2)


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    _, pool = await migrated_pool("points")
    return pool


async def add_events(pool: asyncpg.Pool, topic: str, member_ids: list[str], rounds: int) -> list[str]:
    event_ids = []
    for sequence in range(rounds):
        for member_id in member_ids:
            payload = events.PointsEarned(member_id=member_id, points=sequence + 1, reason="outage-test")
            envelope = new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))
            async with unit_of_work(pool) as connection:
                await add_event(connection, topic, envelope)
            event_ids.append(envelope.event_id)
    return event_ids


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox_pending"))


async def all_published(pool: asyncpg.Pool) -> bool:
    return await unpublished(pool) == 0


async def received_in_order(kafka: KafkaSettings, topic: str, expected: list[str]) -> None:
    records = await read_topic(kafka, topic, len(expected), within=60, settle=0.5)
    received = [decode(r.value, list(r.headers))[0] for r in sorted(records, key=lambda r: (r.partition, r.offset))]
    assert {e.event_id for e in received} == set(expected)
    position = {event_id: index for index, event_id in enumerate(expected)}
    by_member: dict[str, list[int]] = {}
    for envelope in received:
        by_member.setdefault(envelope.subject, []).append(position[envelope.event_id])
    for member_id, order in by_member.items():
        # A batch that landed on a broker which lost its log is sent again with every retained row,
        # in commit order: a key's events may repeat, but their last deliveries are in order.
        last_seen = list(reversed(dict.fromkeys(reversed(order))))
        assert last_seen == sorted(last_seen), f"{member_id} events out of order: {order}"


async def test_relay_started_while_the_broker_is_down_keeps_rows_then_publishes(
    own_broker: EmbeddedBroker, own_kafka: KafkaSettings, pool: asyncpg.Pool
) -> None:
    topic = f"outage.cold.{uuid.uuid4().hex[:8]}"
    members = [f"m-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    relay = OutboxRelay(pool, own_kafka, poll_interval=0.05)
    async with running(relay.run) as tasks:
        sent = await add_events(pool, topic, members, rounds=4)
        await asyncio.sleep(OUTAGE_OBSERVATION_S)
        assert not tasks[0].done(), "the relay must keep running while the broker is down"
        assert await unpublished(pool) == len(sent)
        assert relay.published == 0

        await own_broker.start()  # the topic does not exist yet: the relay creates it
        await eventually(lambda: all_published(pool), within=60, what="the outbox to drain")
    assert relay.published >= len(sent)
    await received_in_order(own_kafka, topic, sent)


async def test_relay_rides_through_a_broker_crash_and_restart(
    own_broker: EmbeddedBroker, own_kafka: KafkaSettings, pool: asyncpg.Pool
) -> None:
    topic = f"outage.crash.{uuid.uuid4().hex[:8]}"
    members = [f"m-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    await own_broker.start()
    await ensure_topics(own_kafka, [topic])
    relay = OutboxRelay(pool, own_kafka, poll_interval=0.05)
    async with running(relay.run) as tasks:
        before = await add_events(pool, topic, members, rounds=2)
        await eventually(lambda: all_published(pool), what="the first events to go out")
        await received_in_order(own_kafka, topic, before)

        await own_broker.kill()
        during = await add_events(pool, topic, members, rounds=5)
        await asyncio.sleep(OUTAGE_OBSERVATION_S)
        assert not tasks[0].done(), "the relay must keep running while the broker is down"
        assert await unpublished(pool) == len(during), "rows must stay while nobody acknowledges them"

        await own_broker.start()  # in-memory: comes back empty, without the topic
        after = await add_events(pool, topic, members, rounds=2)
        await eventually(lambda: all_published(pool), within=60, what="the outbox to drain after restart")
    # The restarted broker lost even what it had acknowledged before the crash; the relay replays
    # every retained row, so all of it reaches the new broker, in order per member.
    await received_in_order(own_kafka, topic, before + during + after)
    assert await all_published(pool)


async def test_a_relay_with_nothing_to_send_replays_what_a_restarted_broker_lost(
    own_broker: EmbeddedBroker, own_kafka: KafkaSettings, pool: asyncpg.Pool
) -> None:
    """A quiet service: no new event would reveal the loss by its acknowledgement's offset."""
    topic = f"outage.idle.{uuid.uuid4().hex[:8]}"
    members = [f"m-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    await own_broker.start()
    await ensure_topics(own_kafka, [topic])
    relay = OutboxRelay(pool, own_kafka, poll_interval=0.05)
    async with running(relay.run):
        sent = await add_events(pool, topic, members, rounds=2)
        await eventually(lambda: all_published(pool), what="the events to go out")
        await own_broker.restart()  # acknowledged, then lost before anyone read them
        await ensure_topics(own_kafka, [topic])  # back, empty, as `loyalty dev` makes it
        await received_in_order(own_kafka, topic, sent)


async def test_a_relay_with_nothing_to_send_replays_nothing_the_broker_still_has(
    own_broker: EmbeddedBroker, own_kafka: KafkaSettings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch put several records in a partition: the embedded broker's end offset then reads short."""
    monkeypatch.setattr(outbox, "_IDLE_LOG_CHECK_EVERY_S", 0.2)
    topic = f"outage.kept.{uuid.uuid4().hex[:8]}"
    await own_broker.start()
    await ensure_topics(own_kafka, [topic])
    async with unit_of_work(pool) as connection:  # one commit: the relay sends them as one batch
        for sequence in range(12):
            payload = events.PointsEarned(member_id=f"m-{sequence % 3}", points=1, reason="kept-test")
            envelope = new_envelope(payload, subject=payload.member_id, source="tests", occurred_at=datetime.now(UTC))
            await add_event(connection, topic, envelope)
    relay = OutboxRelay(pool, own_kafka, poll_interval=0.05)
    async with running(relay.run):
        await eventually(lambda: all_published(pool), what="the events to go out")
        await asyncio.sleep(OUTAGE_OBSERVATION_S)  # idle: the log is checked again and again
        assert relay.published == 12 and await all_published(pool)
