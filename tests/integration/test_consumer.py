"""EventConsumer against real PostgreSQL and the embedded broker: inbox, dead letters, moving on."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from google.protobuf.message import Message
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import commerce_pb2, points_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from prometheus_client import REGISTRY

from services.common.db import after_commit
from services.common.errors import NotFound
from services.common.event_consumer import EventConsumer
from services.common.events import PROTOBUF, event_types_of, kafka_headers, new_envelope
from services.common.kafka import PURCHASES_TOPIC, dead_letter_topic
from services.common.read_model import ReadModelConsumer, Writes
from services.common.settings import KafkaSettings
from tests.integration.support import (
    DeadLettersSentOrNot,
    PoolFactory,
    TopicFactory,
    delivered_event,
    eventually,
    header,
    read_topic,
    running,
)

PURCHASE_MADE = commerce_pb2.PurchaseMade.DESCRIPTOR.full_name
REFUSED_AMOUNT = 13  # the test handler refuses purchases of exactly this amount


INSERT_EFFECT = "INSERT INTO effects (event_id, purchase_id, amount_minor) VALUES ($1, $2, $3)"


def effect_of(envelope: EventEnvelope, payload: Message) -> tuple[str, str, int]:
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    return envelope.event_id, payload.purchase_id, payload.amount.amount_minor


async def record_effect(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
    """A handler with a visible effect; it refuses one amount after writing, like a domain check would."""
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    await connection.execute(INSERT_EFFECT, *effect_of(envelope, payload))
    if payload.amount.amount_minor == REFUSED_AMOUNT:
        raise NotFound(f"member_id: member {payload.member_id!r} is not enrolled")


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    _, pool = await migrated_pool("rewards")
    # smallint: an amount beyond 32767 is a value the database refuses.
    await pool.execute(
        "CREATE TABLE effects (event_id text NOT NULL, purchase_id text NOT NULL, amount_minor smallint NOT NULL)"
    )
    return pool


@pytest.fixture
async def topic(fresh_topic: TopicFactory) -> str:
    return await fresh_topic("consumer")


@pytest.fixture
def consumer(pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str) -> EventConsumer:
    return EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: record_effect})


def consumer_options(pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str) -> dict[str, Any]:
    """A consumer of `topic`, standing in for the purchases topic, in a group of its own."""
    return {
        "name": f"test-{uuid.uuid4().hex[:8]}",
        "topic": topic,
        "pool": pool,
        "kafka": kafka_settings,
        "carries": event_types_of(PURCHASES_TOPIC),
    }


def purchase_event(member_id: str, amount_minor: int = 500) -> EventEnvelope:
    payload = commerce_pb2.PurchaseMade(
        purchase_id=f"p-{uuid.uuid4().hex[:8]}",
        member_id=member_id,
        amount=Money(amount_minor=amount_minor, currency_code="USD"),
    )
    return new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))


Send = Callable[[EventEnvelope | bytes | None], Awaitable[None]]


@pytest.fixture
def send(producer: AIOKafkaProducer, topic: str) -> Callable[[str], Send]:
    """`await send(key)(message)`: an envelope with its headers, or raw bytes as a foreign producer would."""

    def for_key(key: str) -> Send:
        async def send_one(message: EventEnvelope | bytes | None) -> None:
            value: bytes | None = message.SerializeToString() if isinstance(message, EventEnvelope) else message
            headers = (
                kafka_headers(message) if isinstance(message, EventEnvelope) else [("content-type", PROTOBUF.encode())]
            )
            await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)

        return send_one

    return for_key


async def effects_of(pool: asyncpg.Pool, event_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event_id))


async def test_an_event_delivered_twice_is_applied_once(
    consumer: EventConsumer, pool: asyncpg.Pool, send: Callable[[str], Send]
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    twice, sentinel = purchase_event(member), purchase_event(member)
    # One key, so one partition: the sentinel is processed after both copies.
    for message in (twice, twice, sentinel):
        await send(member)(message)
    skipped = REGISTRY.get_sample_value(
        "loyalty_consumer_duplicates_total", {"consumer": consumer.name, "topic": consumer.topic}
    )
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, sentinel.event_id), what="the sentinel to be applied")
    assert await effects_of(pool, twice.event_id) == 1
    assert consumer.applied == 2
    labels = {"consumer": consumer.name, "topic": consumer.topic}
    assert REGISTRY.get_sample_value("loyalty_consumer_duplicates_total", labels) == (skipped or 0) + 1
    assert consumer.dead_lettered == 0
    inbox = await pool.fetch("SELECT event_id FROM inbox WHERE consumer = $1 ORDER BY event_id", consumer.name)
    assert {r["event_id"] for r in inbox} == {twice.event_id, sentinel.event_id}


async def test_garbage_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    consumer: EventConsumer,
    pool: asyncpg.Pool,
    send: Callable[[str], Send],
    kafka_settings: KafkaSettings,
    topic: str,
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    good = purchase_event(member)
    garbage = b"\xff\x00 definitely not an envelope"
    await send(member)(garbage)
    await send(member)(None)
    await send(member)(good)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, good.event_id), what="the good event after the garbage")
        dead = await read_topic(kafka_settings, dead_letter_topic(topic), 2, settle=0.5)
    assert consumer.dead_lettered == 2
    assert [r.value for r in dead] == [garbage, None]
    assert all(r.key == member.encode() for r in dead)
    reasons = [header(r, "dlq-reason") or "" for r in dead]
    assert reasons[0].startswith("cannot parse envelope")
    assert reasons[1] == "empty message value"
    assert {header(r, "dlq-consumer") for r in dead} == {consumer.name}
    # Where each came from: the same partition of the topic (one key), offsets 0 and 1.
    sources = [(header(r, "dlq-source") or "").rsplit("/", 2) for r in dead]
    assert [(t, o) for t, _, o in sources] == [(topic, "0"), (topic, "1")]
    assert sources[0][1] == sources[1][1]
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1


async def test_a_header_without_a_value_is_read_as_empty(
    consumer: EventConsumer, pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str
) -> None:
    """Kafka allows it (a foreign producer's flag header); aiokafka gives it as None, which stopped the consumer."""
    member = f"m-{uuid.uuid4().hex[:8]}"
    flagged = purchase_event(member)
    headers = [*kafka_headers(flagged), ("x-flag", None)]
    await producer.send_and_wait(topic, flagged.SerializeToString(), key=member.encode(), headers=headers)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, flagged.event_id), what="the event with a header without a value")


def dead_source(dead: ConsumerRecord) -> tuple[str, int, int]:
    """(topic, partition, offset) of the message a dead letter carries, from its dlq-source header."""
    topic, partition, offset = header(dead, "dlq-source").rsplit("/", 2)
    return topic, int(partition), int(offset)


async def test_an_event_the_domain_refuses_is_dead_lettered_with_the_reason_and_undone(
    consumer: EventConsumer,
    pool: asyncpg.Pool,
    send: Callable[[str], Send],
    kafka_settings: KafkaSettings,
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    refused, after = purchase_event(member, REFUSED_AMOUNT), purchase_event(member)
    # Refused once, redelivered once: it must reach the dead-letter topic only once.
    for message in (refused, refused, after):
        await send(member)(message)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, after.event_id), what="the event after the refused one")
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=1.0)
    assert header(dead, "dlq-reason") == f"member_id: member {member!r} is not enrolled"
    assert header(dead, "ce_id") == refused.event_id  # the original headers travel along
    assert dead.value == refused.SerializeToString()
    assert consumer.dead_lettered == 1
    # The log line finds the message: partition and offset, and the producer's trace.
    [logged] = [r for r in caplog.records if r.getMessage() == "event dead-lettered"]
    assert (logged.partition, logged.offset) == dead_source(dead)[1:]  # type: ignore[attr-defined]
    assert logged.traceparent == header(dead, "traceparent")  # type: ignore[attr-defined]
    # The handler's write before it refused was rolled back; the next event's stayed.
    assert await effects_of(pool, refused.event_id) == 0
    assert await effects_of(pool, after.event_id) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2", consumer.name, refused.event_id
        )
        == 1
    )


async def test_an_event_with_a_value_the_database_refuses_is_dead_lettered_and_the_batch_goes_on(
    consumer: EventConsumer, pool: asyncpg.Pool, send: Callable[[str], Send], kafka_settings: KafkaSettings, topic: str
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    before, too_big, after = purchase_event(member), purchase_event(member, 40_000), purchase_event(member)
    for message in (before, too_big, after):
        await send(member)(message)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, after.event_id), what="the event after the refused one")
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=1.0)
    assert header(dead, "ce_id") == too_big.event_id
    # One line on what kind of value, not the database's message (its DETAIL would quote the row).
    assert header(dead, "dlq-reason") == "the database refused a value: a value cannot be stored"
    assert [await effects_of(pool, e.event_id) for e in (before, too_big, after)] == [1, 0, 1]
    assert consumer.applied == 2


async def test_a_read_model_batch_with_a_value_the_database_refuses_applies_the_others_once(
    pool: asyncpg.Pool, send: Callable[[str], Send], kafka_settings: KafkaSettings, topic: str
) -> None:
    async def write_effect(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
        await writes.execute(INSERT_EFFECT, *effect_of(envelope, payload))

    consumer = ReadModelConsumer(
        **consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: write_effect}
    )
    member = f"m-{uuid.uuid4().hex[:8]}"
    events = [purchase_event(member, 40_000 if index == 3 else 500) for index in range(8)]
    for message in events:
        await send(member)(message)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, events[-1].event_id), what="the last event")
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=1.0)
    assert header(dead, "ce_id") == events[3].event_id
    assert [await effects_of(pool, e.event_id) for e in events] == [1, 1, 1, 0, 1, 1, 1, 1]
    assert consumer.applied == 7


async def test_a_batch_mixing_refused_and_good_events_applies_each_good_one_once(
    consumer: EventConsumer, pool: asyncpg.Pool, send: Callable[[str], Send], kafka_settings: KafkaSettings, topic: str
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    events = [purchase_event(member, REFUSED_AMOUNT if i % 3 == 1 else 500) for i in range(30)]
    for message in events:
        await send(member)(message)
    refused = [e for i, e in enumerate(events) if i % 3 == 1]
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, events[-1].event_id), what="the last event")
        dead = await read_topic(kafka_settings, dead_letter_topic(topic), len(refused), settle=1.0)
    assert [header(r, "ce_id") for r in dead] == [e.event_id for e in refused]
    for index, event in enumerate(events):
        assert await effects_of(pool, event.event_id) == (0 if index % 3 == 1 else 1)
    assert consumer.applied == len(events) - len(refused)


async def test_event_types_of_the_topic_without_a_handler_are_skipped_unparsed(
    consumer: EventConsumer, pool: asyncpg.Pool, send: Callable[[str], Send], producer: AIOKafkaProducer, topic: str
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    other = new_envelope(
        commerce_pb2.PurchaseRefunded(refund_id="r-1", purchase_id="p-1", member_id=member),
        subject=member,
        source="tests",
        occurred_at=datetime.now(UTC),
    )
    sentinel = purchase_event(member)
    await send(member)(other)
    # Skipped by its header, never parsed: garbage under it is not dead-lettered.
    refunded = other.type.encode()
    await producer.send_and_wait(topic, b"\xff\x00 never parsed", key=member.encode(), headers=[("ce_type", refunded)])
    await send(member)(sentinel)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, sentinel.event_id), what="the sentinel to be applied")
    assert consumer.applied == 1
    assert consumer.dead_lettered == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", other.event_id) == 0


async def test_an_event_type_its_topic_does_not_carry_is_dead_lettered_not_skipped(
    consumer: EventConsumer, pool: asyncpg.Pool, send: Callable[[str], Send], kafka_settings: KafkaSettings, topic: str
) -> None:
    """The consumer's topic stands in for the purchases topic, which carries no PointsEarned."""
    member = f"m-{uuid.uuid4().hex[:8]}"
    stray = new_envelope(
        points_pb2.PointsEarned(member_id=member, points=5),
        subject=member,
        source="tests",
        occurred_at=datetime.now(UTC),
    )
    sentinel = purchase_event(member)
    await send(member)(stray)
    await send(member)(sentinel)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, sentinel.event_id), what="the sentinel to be applied")
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=1.0)
    assert header(dead, "ce_id") == stray.event_id
    assert header(dead, "dlq-reason") == f"the ce_type header {stray.type!r} is not an event type of {topic}"
    assert consumer.applied == 1


# Both roll the batch's transaction back; neither is the message's fault.
FAILURES = {
    # What a fast shutdown or a network cut does to a session in the middle of a transaction.
    "connection cut": "SELECT pg_terminate_backend(pg_backend_pid())",
    # What PostgreSQL does to the victim of a deadlock between two consumers' batches.
    "deadlock victim": "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$",
}


@pytest.mark.parametrize("failure", FAILURES)
async def test_a_batch_the_database_rolled_back_is_retried_and_the_consumer_lives_on(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str, send: Callable[[str], Send], failure: str
) -> None:
    """A restart or a lost deadlock: the batch is applied once, later, not lost, and the consumer does not die."""
    failed: list[str] = []

    async def fail_once(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        if not failed:
            failed.append(envelope.event_id)
            await connection.execute(FAILURES[failure])
        await record_effect(connection, envelope, payload)

    consumer = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: fail_once})
    member = f"m-{uuid.uuid4().hex[:8]}"
    first, second = purchase_event(member), purchase_event(member)
    for message in (first, second):
        await send(member)(message)
    async with running(consumer.run) as (task,):
        await eventually(lambda: effects_of(pool, second.event_id), what="the event after the failure to be applied")
        assert not task.done()
    assert failed == [first.event_id]
    assert await effects_of(pool, first.event_id) == 1
    assert consumer.dead_lettered == 0


async def test_garbage_in_a_batch_the_database_rolled_back_is_dead_lettered_once(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str, send: Callable[[str], Send]
) -> None:
    """The batch is applied again after the failure; the garbage in it, refused the same way, is not sent again."""
    failed: list[str] = []

    async def fail_once(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        if not failed:
            failed.append(envelope.event_id)
            await connection.execute(FAILURES["connection cut"])
        await record_effect(connection, envelope, payload)

    consumer = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: fail_once})
    member = f"m-{uuid.uuid4().hex[:8]}"
    garbage, good = b"\xff\x00 not an envelope", purchase_event(member)
    await send(member)(garbage)
    await send(member)(good)
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, good.event_id), what="the event after the failure to be applied")
        dead = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=1.0)
    assert failed == [good.event_id]
    assert [r.value for r in dead] == [garbage]
    assert consumer.dead_lettered == 1


async def test_what_a_refused_event_left_to_do_after_the_commit_is_undone_with_it(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str
) -> None:
    """Metrics count what committed: an event refused in its savepoint counts nothing, the others count once."""
    counted: list[str] = []

    async def count_then_record(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        after_commit(lambda: counted.append(envelope.event_id))
        await record_effect(connection, envelope, payload)

    consumer = EventConsumer(
        **consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: count_then_record}
    )
    member = f"m-{uuid.uuid4().hex[:8]}"
    good, refused = purchase_event(member), purchase_event(member, REFUSED_AMOUNT)
    dead_letters = DeadLettersSentOrNot()
    await consumer.process([delivered_event(topic, good, 0), delivered_event(topic, refused, 1)], dead_letters)
    assert len(dead_letters.reasons) == 1
    assert counted == [good.event_id]
