"""Consumer lag on the embedded broker: a replica exports the lag of the partitions its group gives it, and stops
exporting those a rebalance takes from it (a second replica joining), so no two replicas export one partition."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.common.consumer import BatchConsumer
from services.common.dead_letters import DeadLetters
from services.common.kafka import new_consumer
from services.common.metrics import CONSUMER_LAG
from services.common.settings import KafkaSettings
from tests.integration.support import TopicFactory, eventually, running


class Owned(BatchConsumer):
    """A replica that applies nothing and remembers the partitions its group gave it last."""

    def __init__(self, kafka: KafkaSettings, group: str, topic: str) -> None:
        super().__init__(name=group, topic=topic, pool=None, kafka=kafka)  # type: ignore[arg-type]  # no database
        self.owned: set[int] = set()

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        pass

    def partitions_assigned(self, partitions: set[int]) -> None:
        self.owned = partitions


def exported(group: str) -> set[int]:
    """The partitions whose lag series for `group` the process exports."""
    return {
        int(sample.labels["partition"])
        for metric in CONSUMER_LAG.collect()
        for sample in metric.samples
        if sample.labels["consumer"] == group
    }


async def test_a_replica_stops_exporting_the_lag_of_partitions_a_rebalance_gives_another(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("lag")
    partitions = await producer.partitions_for(topic)
    assert len(partitions) > 1, "a rebalance needs partitions to share"
    for partition in partitions:
        await producer.send_and_wait(topic, b"v", partition=partition)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    first = Owned(kafka_settings, group, topic)

    async def first_exports_every_partition() -> bool:
        return exported(group) == set(partitions)

    async with running(first.run):
        await eventually(first_exports_every_partition, what="the only replica exporting every partition's lag")
        # A second replica joins (an aiokafka member of the group: it exports nothing itself in this process).
        second = new_consumer(kafka_settings, group, topic)
        await second.start()

        async def polled() -> None:
            while True:
                await second.getmany(timeout_ms=200)
                await asyncio.sleep(0)

        try:
            async with running(polled):

                async def shared() -> bool:
                    return bool(second.assignment()) and bool(first.owned) and first.owned < set(partitions)

                await eventually(shared, what="the group sharing the partitions between both replicas")

                async def only_its_own_exported() -> bool:
                    return exported(group) == first.owned

                await eventually(only_its_own_exported, what="the first replica exporting only what it still owns")
        finally:
            await second.stop()
