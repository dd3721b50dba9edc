"""LostLogWatch against a real broker that loses its log: a consumer is rewound only when the record it applied is gone.

Each test runs its own embedded broker so it can restart it; the broker is
in-memory and comes back empty. The case that matters: the new log is already
longer than the consumer's old position (producers replayed into it), so the
position is valid and only the identity of the record there tells the loss.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.common.embedded import EmbeddedBroker
from services.common.kafka import ensure_topics
from services.common.lost_log import LostLogWatch
from services.common.settings import KafkaSettings
from tests.integration.support import eventually

BEFORE = 5
# More records after the restart than before: the old position lies inside the new log.
AFTER = 8


@pytest.fixture
async def broker(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    await own_broker.start()
    return own_broker


@pytest.fixture
def own_kafka(broker: EmbeddedBroker, kafka_settings: KafkaSettings) -> KafkaSettings:
    return replace(kafka_settings, bootstrap=broker.bootstrap, idempotence=False, partitions=1)


async def produce(kafka: KafkaSettings, topic: str, values: list[bytes]) -> None:
    # A fresh producer each time: one kept across the restart would still know the old topic.
    producer = AIOKafkaProducer(**kafka.client_options(), enable_idempotence=False, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"member")
    finally:
        await producer.stop()


async def read(consumer: AIOKafkaConsumer, partition: TopicPartition, count: int) -> list[ConsumerRecord]:
    records: list[ConsumerRecord] = []

    async def enough() -> bool:
        records.extend((await consumer.getmany(partition, timeout_ms=500)).get(partition, []))
        return len(records) >= count

    await eventually(enough, within=30, what=f"{count} records of {partition}")
    return records


@pytest.fixture
async def topic(own_kafka: KafkaSettings) -> str:
    name = f"lost-log.{uuid.uuid4().hex[:8]}"
    await ensure_topics(own_kafka, [name])
    return name


@pytest.fixture
async def consumer(own_kafka: KafkaSettings, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    client = AIOKafkaConsumer(**own_kafka.client_options(), group_id=None, auto_offset_reset="earliest")
    await client.start()
    client.assign([TopicPartition(topic, 0)])
    yield client
    await client.stop()


@pytest.fixture
async def watch(own_kafka: KafkaSettings) -> AsyncIterator[LostLogWatch]:
    lost_logs = LostLogWatch(own_kafka)
    yield lost_logs
    await lost_logs.stop()


async def applied_before(
    own_kafka: KafkaSettings, topic: str, consumer: AIOKafkaConsumer, watch: LostLogWatch
) -> TopicPartition:
    """The first records produced, read and applied; returns their partition."""
    partition = TopicPartition(topic, 0)
    await produce(own_kafka, topic, [f"before-{i}".encode() for i in range(BEFORE)])
    records = await read(consumer, partition, BEFORE)
    watch.applied(partition, records[-1])
    return partition


async def test_a_log_still_there_is_not_read_again(
    own_kafka: KafkaSettings, topic: str, consumer: AIOKafkaConsumer, watch: LostLogWatch
) -> None:
    partition = await applied_before(own_kafka, topic, consumer, watch)
    await produce(own_kafka, topic, [b"later"])

    await watch.rewind_lost(consumer)

    assert await consumer.position(partition) == BEFORE
    [record] = await read(consumer, partition, 1)
    assert record.value == b"later"


async def restart_and_replay(broker: EmbeddedBroker, own_kafka: KafkaSettings, topic: str) -> None:
    """The broker comes back empty and producers fill the new log past the consumer's old position."""
    await broker.restart()
    await ensure_topics(own_kafka, [topic])
    await produce(own_kafka, topic, [f"after-{i}".encode() for i in range(AFTER)])


async def rewound_and_read_from_the_start(
    consumer: AIOKafkaConsumer, watch: LostLogWatch, partition: TopicPartition
) -> None:
    async def rewound() -> bool:
        await watch.rewind_lost(consumer)
        return await consumer.position(partition) == 0

    # The probe may find the restarted broker slow to answer; the watch then leaves the position alone.
    await eventually(rewound, within=30, what="the consumer to be rewound to the new log's beginning")
    records = await read(consumer, partition, AFTER)
    assert [r.value for r in records[:AFTER]] == [f"after-{i}".encode() for i in range(AFTER)]


async def test_a_lost_log_longer_than_the_old_position_is_read_from_its_beginning(
    broker: EmbeddedBroker, own_kafka: KafkaSettings, topic: str, consumer: AIOKafkaConsumer, watch: LostLogWatch
) -> None:
    partition = await applied_before(own_kafka, topic, consumer, watch)

    await restart_and_replay(broker, own_kafka, topic)

    await rewound_and_read_from_the_start(consumer, watch, partition)


async def test_a_lost_log_is_noticed_after_the_consumer_applied_records_of_the_new_one(
    broker: EmbeddedBroker, own_kafka: KafkaSettings, topic: str, consumer: AIOKafkaConsumer, watch: LostLogWatch
) -> None:
    partition = await applied_before(own_kafka, topic, consumer, watch)

    await restart_and_replay(broker, own_kafka, topic)
    # The consumer resumes at its old position inside the new log and applies what it finds there
    # before any check ran: the last record it applied is still there, the new log's head unread.
    tail = await read(consumer, partition, AFTER - BEFORE)
    assert tail[0].value == f"after-{BEFORE}".encode()
    watch.applied(partition, tail[-1])

    await rewound_and_read_from_the_start(consumer, watch, partition)


async def test_a_partition_revoked_during_the_check_is_left_alone(
    broker: EmbeddedBroker, own_kafka: KafkaSettings, topic: str, consumer: AIOKafkaConsumer, watch: LostLogWatch
) -> None:
    """A rebalance may take the partition away while the broker is asked.

    Seeking it afterwards raised IllegalStateError, which ended the consumer and its service.
    """
    await applied_before(own_kafka, topic, consumer, watch)
    await restart_and_replay(broker, own_kafka, topic)
    ask_the_broker = watch._still_there
    revoked = asyncio.Event()

    async def revoked_once_found_lost(*args: Any) -> bool | None:
        answer = await ask_the_broker(*args)
        if answer is False:
            consumer.assign([TopicPartition(topic, 1)])
            revoked.set()
        return answer

    watch._still_there = revoked_once_found_lost  # type: ignore[method-assign]

    async def asked() -> bool:
        await watch.rewind_lost(consumer)
        return revoked.is_set()

    await eventually(asked, within=30, what="a check that found the log lost and the partition revoked")
    assert consumer.assignment() == {TopicPartition(topic, 1)}
