"""Dead letters on a broker that restarts empty (the embedded one): refused messages stay readable on `<topic>.dlq`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.consumer import BatchConsumer
from services.common.db import unit_of_work
from services.common.dead_letters import WAIT_S, DeadLetters
from services.common.embedded import EmbeddedBroker
from services.common.kafka import dead_letter_topic, ensure_topics
from services.common.settings import KafkaSettings
from tests.integration.support import eventually
from tests.integration.test_lost_log import produce


class RefusesEverything(BatchConsumer):
    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        for record in records:
            await self.dead_letter(record, dead_letters, "refused by the test")


async def dead_lettered(kafka: KafkaSettings, topic: str) -> set[bytes]:
    """Every value on `<topic>.dlq` a fresh reader can fetch, from the start of each partition."""
    return {record.value for record in await dead_letter_records(kafka, topic)}


async def dead_letter_records(kafka: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    reader = AIOKafkaConsumer(**kafka.client_options(), group_id=None, auto_offset_reset="earliest")
    await reader.start()
    try:
        await reader.topics()  # metadata as the broker has it now
        dlq = dead_letter_topic(topic)
        partitions = [TopicPartition(dlq, p) for p in reader.partitions_for_topic(dlq) or ()]
        if not partitions:
            return []
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        batches = await reader.getmany(*partitions, timeout_ms=1000)
        return [record for records in batches.values() for record in records]
    finally:
        await reader.stop()


async def topic_on(broker: EmbeddedBroker, kafka_settings: KafkaSettings, prefix: str) -> tuple[KafkaSettings, str]:
    """The test's own broker started, with a fresh one-partition topic and its dead-letter topic."""
    await broker.start()
    kafka = replace(kafka_settings, bootstrap=broker.bootstrap, idempotence=False, partitions=1)
    topic = f"{prefix}.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic, dead_letter_topic(topic)])
    return kafka, topic


async def test_a_message_refused_after_a_broker_restart_is_still_dead_lettered(
    own_broker: EmbeddedBroker, kafka_settings: KafkaSettings, pool: asyncpg.Pool
) -> None:
    kafka, topic = await topic_on(own_broker, kafka_settings, "refused")
    consumer = RefusesEverything(name=f"refuser-{uuid.uuid4().hex[:8]}", topic=topic, pool=pool, kafka=kafka)
    running = asyncio.create_task(consumer.run())
    try:
        await produce(kafka, topic, [b"before"])
        await eventually(lambda: _has(kafka, topic, b"before"), within=30, what="the first dead letter")

        # Back empty: no topics, no groups. Someone (loyalty dev, a producer) brings the topic back;
        # nobody reads the .dlq, so nothing but the consumer's own dead letters can bring that back.
        await own_broker.restart()
        await ensure_topics(kafka, [topic])
        await produce(kafka, topic, [b"after"])

        await eventually(lambda: _has(kafka, topic, b"after"), within=60, what="the dead letter after the restart")
        assert consumer.dead_lettered == 2
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def _has(kafka: KafkaSettings, topic: str, value: bytes) -> bool:
    return value in await dead_lettered(kafka, topic)


class WritesThenRefuses(BatchConsumer):
    """Adds one point to a member's row for each message, in the batch's transaction; refuses b"refused"."""

    def __init__(self, broker: EmbeddedBroker, **options: Any) -> None:
        super().__init__(**options)
        self._broker = broker
        self.outage = asyncio.Event()

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        async with unit_of_work(self._pool) as connection:
            for record in records:
                if record.value != b"refused":
                    await connection.execute("UPDATE balances SET points = points + 1 WHERE member = 'm-1'")
                    continue
                if not self.outage.is_set():
                    await self._broker.stop()  # the outage starts as the batch dead-letters
                    self.outage.set()
                await self.dead_letter(record, dead_letters, "refused by the test")


async def test_a_dead_letter_waiting_for_the_broker_holds_its_batch_locks_for_seconds_not_the_outage(
    own_broker: EmbeddedBroker, kafka_settings: KafkaSettings, pool: asyncpg.Pool
) -> None:
    kafka, topic = await topic_on(own_broker, kafka_settings, "outage")
    await pool.execute("CREATE TABLE balances (member text PRIMARY KEY, points int NOT NULL)")
    await pool.execute("INSERT INTO balances VALUES ('m-1', 0)")
    await produce(kafka, topic, [b"good", b"refused"])
    name = f"outage-{uuid.uuid4().hex[:8]}"
    consumer = WritesThenRefuses(own_broker, name=name, topic=topic, pool=pool, kafka=kafka)
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.outage.wait(), 30)
        # A write to the row the batch locked, as RecordPurchase for this member would be: it needs no broker.
        await pool.execute("UPDATE balances SET points = points + 100 WHERE member = 'm-1'", timeout=WAIT_S + 3)
        await asyncio.sleep(WAIT_S)
        assert not running.done()  # the batch waits for the broker, rolled back between attempts

        await own_broker.start()
        await ensure_topics(kafka, [topic])
        await eventually(lambda: _has(kafka, topic, b"refused"), within=60, what="the dead letter once back")
        # The dead letter is sent before the batch commits: its write shows a moment later, and only once.
        await eventually(_applied_once(pool), within=10, what="the good message applied")
        await asyncio.sleep(1)
        assert await pool.fetchval("SELECT points FROM balances") == 101
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_dead_letter_the_broker_did_not_take_is_not_logged_as_dead_lettered(
    own_broker: EmbeddedBroker, kafka_settings: KafkaSettings, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """The log line counts dead letters as the metric does: once the broker acknowledged one, never before."""
    kafka, topic = await topic_on(own_broker, kafka_settings, "unsent")
    await pool.execute("CREATE TABLE balances (member text PRIMARY KEY, points int NOT NULL)")
    await pool.execute("INSERT INTO balances VALUES ('m-1', 0)")
    await produce(kafka, topic, [b"refused"])
    consumer = WritesThenRefuses(own_broker, name=f"unsent-{uuid.uuid4().hex[:8]}", topic=topic, pool=pool, kafka=kafka)
    caplog.set_level(logging.INFO, logger="services.common.consumer")
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.outage.wait(), 30)
        await eventually(lambda: _logged(caplog, "batch not applied"), within=WAIT_S + 10, what="the send given up")
        assert _dead_lettered_lines(caplog) == 0 and consumer.dead_lettered == 0

        await own_broker.start()
        await ensure_topics(kafka, [topic])
        await eventually(lambda: _has(kafka, topic, b"refused"), within=60, what="the dead letter once back")
        assert _dead_lettered_lines(caplog) == consumer.dead_lettered == 1
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def _applied_once(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await pool.fetchval("SELECT points = 101 FROM balances"))

    return check


async def _logged(caplog: pytest.LogCaptureFixture, message: str) -> bool:
    return any(message in record.getMessage() for record in caplog.records)


def _dead_lettered_lines(caplog: pytest.LogCaptureFixture) -> int:
    return sum(record.getMessage() == "event dead-lettered" for record in caplog.records)


class FailsOnPoison(BatchConsumer):
    """Adds one point for each message in the batch's transaction; a defect (KeyError) meets b"poison"."""

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        async with unit_of_work(self._pool) as connection:
            for record in records:
                if record.value == b"poison":
                    raise KeyError("poison")
                await connection.execute("UPDATE balances SET points = points + 1 WHERE member = 'm-1'")


async def test_a_message_a_defect_fails_on_is_dead_lettered_and_the_rest_applied_once(
    own_broker: EmbeddedBroker, kafka_settings: KafkaSettings, pool: asyncpg.Pool
) -> None:
    kafka, topic = await topic_on(own_broker, kafka_settings, "poison")
    await pool.execute("CREATE TABLE balances (member text PRIMARY KEY, points int NOT NULL)")
    await pool.execute("INSERT INTO balances VALUES ('m-1', 0)")
    await produce(kafka, topic, [b"one", b"poison", b"two", b"three"])
    consumer = FailsOnPoison(name=f"poison-{uuid.uuid4().hex[:8]}", topic=topic, pool=pool, kafka=kafka)
    running = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _has(kafka, topic, b"poison"), within=60, what="the poison's dead letter")
        await produce(kafka, topic, [b"after"])
        await eventually(lambda: _points(pool, 4), within=30, what="every other message applied")
        assert not running.done() and consumer.dead_lettered == 1
        reasons = [dict(record.headers)["dlq-reason"] for record in await dead_letter_records(kafka, topic)]
        assert reasons == [b"unexpected error: KeyError('poison')"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert await pool.fetchval("SELECT points FROM balances") == 4


async def _points(pool: asyncpg.Pool, expected: int) -> bool:
    return bool(await pool.fetchval("SELECT points FROM balances") == expected)
