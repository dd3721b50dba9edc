"""The test infrastructure itself: the session broker carries messages and databases are usable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.embedded import database_url, drop_databases, ensure_databases
from services.common.kafka import ALL_TOPICS, ensure_topics
from services.common.settings import KafkaSettings


async def test_broker_round_trips_a_message(kafka_settings: KafkaSettings) -> None:
    topic = f"embedded-test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(kafka_settings, [topic])
    producer = AIOKafkaProducer(**kafka_settings.client_options(), enable_idempotence=False, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"member-1", headers=[("kind", b"greeting")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        **kafka_settings.client_options(),
        group_id=f"embedded-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (record.key, record.value, list(record.headers)) == (
        b"member-1",
        b"hello",
        [("kind", b"greeting")],
    )


async def test_platform_topics_exist(kafka_settings: KafkaSettings) -> None:
    assert await ensure_topics(kafka_settings) == []  # the fixture created them all already
    assert len(ALL_TOPICS) == len(set(ALL_TOPICS))


async def test_create_database_gives_a_fresh_usable_database(
    create_database: Callable[[], Awaitable[str]],
) -> None:
    first, second = await create_database(), await create_database()
    assert first != second
    conn = await asyncpg.connect(first)
    try:
        await conn.execute("CREATE TABLE probe (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO probe VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM probe") == 1
    finally:
        await conn.close()
    conn = await asyncpg.connect(second)
    try:
        assert await conn.fetchval("SELECT to_regclass('probe')") is None
    finally:
        await conn.close()


async def test_databases_are_dropped_together_even_those_a_connection_was_left_open_on(
    postgres_admin_url: str,
) -> None:
    names = [f"loyalty_drop_{uuid.uuid4().hex[:12]}" for _ in range(12)]
    await ensure_databases(postgres_admin_url, names)
    left_open = await asyncpg.connect(database_url(postgres_admin_url, names[3]))
    try:
        await drop_databases(postgres_admin_url, names)
    finally:
        await left_open.close()
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = any($1::text[])", names) == 0
    finally:
        await admin.close()
