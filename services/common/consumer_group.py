"""A consumer's membership of its Kafka group: joining while the broker is away, partitions a rebalance takes
mid-poll, and committing the positions of the partitions it still has."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = logging.getLogger(__name__)


async def start_with_retry(consumer: AIOKafkaConsumer) -> None:
    backoff = 0.5
    while True:
        try:
            await consumer.start()
            return
        except (KafkaError, OSError) as error:
            log.warning("broker unavailable at start; retrying", extra={"error": repr(error)})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)


def revoked(consumer: AIOKafkaConsumer, partition: TopicPartition) -> bool:
    """Whether a rebalance took `partition` from this consumer since it was polled.

    aiokafka rebalances in the background, so a partition can be revoked while its records are applied.
    """
    return partition not in consumer.assignment()


async def commit(consumer: AIOKafkaConsumer) -> None:
    """Commit the positions of the partitions assigned now, never of one a rebalance revoked mid-poll (a partition
    assigned anew starts at its committed offset). Either way the effects are already in Postgres: what a refused
    commit leaves uncommitted is read again by the partition's next owner, and its inbox skips it."""
    try:
        await consumer.commit()
    except (CommitFailedError, IllegalStateError) as error:
        # The group rebalanced meanwhile: a replica joined, left or died, as in every rollout. aiokafka's text for
        # it blames max_poll_interval_ms, which would send an operator to a setting that is not the cause.
        log.info("offset commit refused: the group rebalanced", extra={"error": type(error).__name__})
    except KafkaError as error:
        log.warning("offset commit failed", extra={"error": repr(error)})
