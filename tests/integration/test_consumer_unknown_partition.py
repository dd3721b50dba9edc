"""A consumer assigned a partition its broker does not list keeps polling the others.

The embedded broker, some minutes after a restart, may list fewer partitions of
a topic than its consumer groups were assigned. aiokafka then never finds a
position for the missing ones, and `position()` waits for one forever: the
consumer's loop, measuring its idle lag, stopped there and applied nothing more.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.consumer import BatchConsumer
from services.common.dead_letters import DeadLetters
from services.common.kafka import ensure_topics
from services.common.lost_log import LostLogWatch
from services.common.settings import KafkaSettings
from tests.integration.test_lost_log import produce


class AppliesNothing(BatchConsumer):
    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        pass


async def test_idle_lag_and_lost_log_checks_return_for_a_partition_the_broker_does_not_list(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings
) -> None:
    kafka = replace(kafka_settings, partitions=1, idempotence=False)
    topic = f"unknown-partition.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [topic])
    await produce(kafka, topic, [b"one"])
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    watch = LostLogWatch(kafka)
    try:
        listed, missing = TopicPartition(topic, 0), TopicPartition(topic, 3)
        consumer.assign([listed, missing])
        [record] = (await consumer.getmany(listed, timeout_ms=10_000))[listed]
        watch.applied(missing, record)  # as if read there before the broker stopped listing it

        checks = AppliesNothing(name="test", topic=topic, pool=pool, kafka=kafka)
        # Well inside aiokafka's 40 s request timeout, which a wedged wait would outlast.
        async with asyncio.timeout(15):
            await checks._record_idle_lag(consumer)
            await watch.rewind_lost(consumer)
    finally:
        await watch.stop()
        await consumer.stop()
