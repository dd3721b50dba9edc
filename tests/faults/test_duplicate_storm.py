"""A duplicate storm: every Kafka message delivered twice, every partner batch sent twice, every event copied.

The load sends each purchase and partner record to Kafka twice and each
partner batch twice on its stream; a copier re-publishes every message of the
services' own event topics once more (GoodwillGranted, tier and points
events), as a misbehaving producer or a replayed topic would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.kafka import POINTS_EVENTS_TOPIC, REWARDS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.dev import Platform
from tests.faults.books import Books
from tests.faults.load import Load, Options
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario

pytestmark = pytest.mark.faults

COPY_HEADER = "faults-copy"


async def _copy_every_event(bootstrap: str, books: Books) -> None:
    """Re-publish each message of the services' event topics once (never a copy of a copy)."""
    reader = AIOKafkaConsumer(
        POINTS_EVENTS_TOPIC,
        TICKETS_EVENTS_TOPIC,
        REWARDS_EVENTS_TOPIC,
        bootstrap_servers=bootstrap,
        group_id="faults-copier",
        auto_offset_reset="earliest",
    )
    writer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await reader.start()
    await writer.start()
    try:
        async for message in reader:
            headers = list(message.headers or ())
            if any(name == COPY_HEADER for name, _ in headers):
                continue
            await writer.send_and_wait(
                message.topic, message.value, key=message.key, headers=[*headers, (COPY_HEADER, b"1")]
            )
            books.copies["event copies"] += 1
    finally:
        await reader.stop()
        await writer.stop()


@contextlib.asynccontextmanager
async def copying(bootstrap: str, books: Books) -> AsyncIterator[None]:
    task = asyncio.create_task(_copy_every_event(bootstrap, books))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_every_message_twice_counts_once(fault_platform: Platform, scale: Scale) -> None:
    books = Books()

    async def storm(_: Load) -> str:
        return "each Kafka message and partner batch sent twice; every service event copied once"

    async with copying(fault_platform.kafka_bootstrap, books):
        report, findings = await run_scenario(
            "duplicate storm", fault_platform, scale, storm, Options(kafka_copies=2, batch_copies=2), books
        )
    record(report, findings)
