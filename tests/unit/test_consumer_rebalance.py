"""A partition a rebalance takes while its records are applied: the rest of them is left, and nothing fails.

aiokafka rebalances in the background, during a poll's work too, and asserts the assignment in highwater().
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from services.common.consumer import BatchConsumer

PARTITION = TopicPartition("t", 0)


class Group:
    """The consumer's view of its group: a rebalance may take PARTITION at any time."""

    def __init__(self) -> None:
        self.assigned = {PARTITION}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, partition: TopicPartition) -> int:
        assert partition in self.assigned, "Partition is not assigned"  # as aiokafka does
        return 100


class RevokedWhileApplying(BatchConsumer):
    max_poll_records = 2

    def __init__(self, group: Group) -> None:
        super().__init__(name="revoked", topic="t", pool=None, kafka=None)  # type: ignore[arg-type]
        self.group = group
        self.batches: list[list[int]] = []

    async def process(self, records: list[ConsumerRecord], dead_letters: Any) -> None:
        self.batches.append([record.offset for record in records])
        self.group.assigned = set()  # the rebalance lands while the batch is applied


class Applied:
    def __init__(self) -> None:
        self.records: list[int] = []

    def applied(self, partition: TopicPartition, record: ConsumerRecord) -> None:
        self.records.append(record.offset)


@pytest.mark.parametrize(("count", "batches"), [(1, [[0]]), (5, [[0, 1]])])
async def test_a_partition_revoked_mid_poll_ends_its_work_there_and_the_consumer_goes_on(
    count: int, batches: list[list[int]]
) -> None:
    group = Group()
    consumer = RevokedWhileApplying(group)
    records = [ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, ()) for offset in range(count)]
    await consumer._apply_partition(group, PARTITION, records, None, Applied())  # type: ignore[arg-type]
    assert consumer.batches == batches  # the batches after the rebalance are its new owner's
