"""EventConsumer against real PostgreSQL and the embedded broker, when the world misbehaves: a database that
takes no writes (a failover), a rebalance in the middle of a poll, a message too large to dead-letter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from google.protobuf.message import Message
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from prometheus_client import REGISTRY

from services.common.consumer import _UNEXPECTED_ATTEMPTS
from services.common.event_consumer import EventConsumer
from services.common.events import PROTOBUF
from services.common.kafka import dead_letter_topic
from services.common.settings import KafkaSettings
from tests.integration.support import eventually, header, read_topic, running, set_read_only
from tests.integration.test_consumer import (
    PURCHASE_MADE,
    Send,
    consumer_options,
    dead_source,
    effects_of,
    pool,
    purchase_event,
    record_effect,
    send,
    topic,
)

__all__ = ["pool", "send", "topic"]


async def test_a_valid_event_met_by_a_read_only_database_waits_for_writes_and_is_never_dead_lettered(
    pool: asyncpg.Pool,
    kafka_settings: KafkaSettings,
    topic: str,
    send: Callable[[str], Send],
    postgres_admin_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database that takes no writes for a while (a failover) is an outage, not the message's fault.

    ReadOnlySQLTransactionError was taken for a defect: after three attempts (0.6 s) the valid purchase
    was dead-lettered and its offset committed, its points never credited.
    """
    caplog.set_level(logging.WARNING, logger="services.common.consumer")
    consumer = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: record_effect})
    member = f"m-{uuid.uuid4().hex[:8]}"
    purchase = purchase_event(member)
    await send(member)(purchase)

    async def attempts_refused() -> bool:
        assert consumer.dead_lettered == 0, "a valid event was dead-lettered"
        refused = [r for r in caplog.records if "ReadOnlySQLTransactionError" in getattr(r, "error", "")]
        return len(refused) > _UNEXPECTED_ATTEMPTS

    await set_read_only(postgres_admin_url, pool, True)
    try:
        async with running(consumer.run):
            await eventually(attempts_refused, what="more attempts than a defect gets, each met by read-only")
            assert consumer.dead_lettered == 0
            await set_read_only(postgres_admin_url, pool, False)
            await eventually(lambda: effects_of(pool, purchase.event_id), what="the purchase once writes resume")
    finally:
        await set_read_only(postgres_admin_url, pool, False)
    assert consumer.dead_lettered == 0
    assert await effects_of(pool, purchase.event_id) == 1


async def test_a_consumer_whose_partitions_a_rebalance_takes_mid_poll_lives_on(
    pool: asyncpg.Pool,
    kafka_settings: KafkaSettings,
    topic: str,
    send: Callable[[str], Send],
) -> None:
    """A second replica joins the group (a deploy, a scale-out) while the first applies a poll.

    After each partition's batch, `_apply_partition` records the lag with `consumer.highwater(partition)`,
    which asserts the partition is still assigned. For a partition the rebalance moved to the new replica it
    raises AssertionError, outside `_process_with_retry`: the consumer's task ends, and run_service stops the
    whole service ("background worker ... ended unexpectedly"); its effects are committed, its offsets not.
    """
    group = f"test-{uuid.uuid4().hex[:8]}"
    joined, busy = asyncio.Event(), asyncio.Event()

    class Replica(EventConsumer):
        def partitions_assigned(self, partitions: set[int]) -> None:
            if partitions:
                joined.set()

    async def slowly(connection: asyncpg.Connection, envelope: Any, payload: Any) -> None:
        # A busy database: the first replica is still applying its poll when the group has rebalanced.
        busy.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(joined.wait(), timeout=30)
        await record_effect(connection, envelope, payload)

    options = {**consumer_options(pool, kafka_settings, topic), "name": group}
    first = EventConsumer(**options, handlers={PURCHASE_MADE: slowly})
    second = Replica(**options, handlers={PURCHASE_MADE: record_effect})
    purchases = [purchase_event(f"m-{i}-{uuid.uuid4().hex[:6]}") for i in range(24)]  # every partition
    for purchase in purchases:
        await send(purchase.subject)(purchase)

    async def all_applied() -> bool:
        return bool(await pool.fetchval("SELECT count(DISTINCT event_id) FROM effects") == len(purchases))

    async with running(first.run) as (first_task,):
        await asyncio.wait_for(busy.wait(), timeout=30)  # the first replica is applying its first poll
        async with running(second.run):
            await eventually(all_applied, within=60, what="every purchase applied by one replica or the other")

            async def first_applied_its_poll() -> bool:
                return first.applied > 0 or first_task.done()

            # The lag is recorded right after the poll's batch is applied: a crash there comes within moments.
            await eventually(first_applied_its_poll, within=60, what="the first replica's poll applied")
            await asyncio.sleep(1)
            assert not first_task.done(), f"the first replica's consumer ended: {first_task.exception()!r}"


async def test_garbage_too_large_to_dead_letter_with_its_headers_does_not_block_its_partition(
    pool: asyncpg.Pool,
    kafka_settings: KafkaSettings,
    topic: str,
    send: Callable[[str], Send],
) -> None:
    """A foreign producer (a brand's commerce system) sends an unreadable message that the topic accepts but
    that, once DeadLetters adds dlq-reason/-consumer/-source, exceeds the producer's request size (1 MiB).

    The send failed with MessageSizeTooLargeError every time, retried for ever as a broker outage: the
    partition, and every later purchase of every member on it, was stuck until an operator deleted the
    message. It is dead-lettered without its value instead, which the operator finds on the source topic.
    """
    member = f"m-{uuid.uuid4().hex[:8]}"
    garbage = b"\xff" + b"x" * 1_048_439  # with its key, header and framing, just under the 1 MiB of a request
    after = purchase_event(member)
    await send(member)(garbage)
    await send(member)(after)
    consumer = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: record_effect})
    labels = {"consumer": consumer.name, "topic": topic}
    async with running(consumer.run):
        await eventually(lambda: effects_of(pool, after.event_id), within=45, what="the purchase after the garbage")
        [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1, settle=0.5)
    assert consumer.dead_lettered == 1
    assert REGISTRY.get_sample_value("loyalty_consumer_dead_lettered_total", labels) == 1
    assert (dead.key, dead.value) == (member.encode(), None)
    assert (header(dead, "dlq-reason") or "").startswith("cannot parse envelope")
    assert dead_source(dead)[::2] == (topic, 0)  # its partition and offset: where the operator reads it
    assert header(dead, "dlq-omitted") == "value"
    assert header(dead, "dlq-original-size") == str(len(member) + len(garbage) + len("content-type" + PROTOBUF))
    assert header(dead, "content-type") == PROTOBUF  # its own headers travel along


# A liveness bound, not a timing: far past what stopping takes, short of the test's own timeout.
STOPS_WITHIN_S = 60


async def test_a_consumer_still_stops_when_an_awaited_call_swallowed_its_cancellation(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, topic: str, send: Callable[[str], Send]
) -> None:
    """Seen in CI: a consumer task cancelled at the end of a test went on polling, its cancellation lost in a race
    inside something it awaited; the task, still marked as being cancelled, never stopped."""
    applying = asyncio.Event()

    async def swallow_cancellation(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        applying.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    consumer = EventConsumer(
        **consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: swallow_cancellation}
    )
    member = f"m-{uuid.uuid4().hex[:8]}"
    await send(member)(purchase_event(member))
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(applying.wait(), STOPS_WITHIN_S)
        task.cancel()
        await asyncio.wait([task], timeout=STOPS_WITHIN_S)
        assert task.cancelled()
    finally:
        while not task.done():  # the code before: cancelled again, it stops at its next await
            task.cancel()
            await asyncio.wait([task], timeout=1)
