"""Dead letters on a broker that restarts empty (the embedded one): refused messages stay readable on `<topic>.dlq`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import replace

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.consumer import BatchConsumer
from services.common.dead_letters import DeadLetters
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
    reader = AIOKafkaConsumer(**kafka.client_options(), group_id=None, auto_offset_reset="earliest")
    await reader.start()
    try:
        await reader.topics()  # metadata as the broker has it now
        dlq = dead_letter_topic(topic)
        partitions = [TopicPartition(dlq, p) for p in reader.partitions_for_topic(dlq) or ()]
        if not partitions:
            return set()
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        batches = await reader.getmany(*partitions, timeout_ms=1000)
        return {record.value for records in batches.values() for record in records}
    finally:
        await reader.stop()


async def test_a_message_refused_after_a_broker_restart_is_still_dead_lettered(
    own_broker: EmbeddedBroker, kafka_settings: KafkaSettings, pool: asyncpg.Pool
) -> None:
    await own_broker.start()
    kafka = replace(kafka_settings, bootstrap=own_broker.bootstrap, idempotence=False, partitions=1)
    topic = f"refused.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic, dead_letter_topic(topic)])
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
