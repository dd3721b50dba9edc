"""Fixtures for integration tests: migrated databases, private topics and a producer.

The session fixtures (`create_database`, `kafka_bootstrap`, `kafka_settings`) come from
tests/conftest.py; everything here builds on them, so on real Postgres and a real broker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.db import create_pool
from services.common.embedded import EmbeddedBroker
from services.common.grpc_server import GrpcServer
from services.common.kafka import dead_letter_topic, ensure_topics
from services.common.migrations import migrate
from services.common.settings import KafkaSettings, service_settings
from services.common.tracing import configure_tracing
from services.points.application import PointsApplication
from services.points.ledger_application import LedgerApplication
from services.points.main import build
from tests.integration.rewards_support import RewardsWorld, started_rewards_world
from tests.integration.support import PoolFactory, TopicFactory


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def migrated_pool(create_database: Callable[[], Awaitable[str]]) -> AsyncIterator[PoolFactory]:
    """`url, pool = await migrated_pool("points")`: a fresh database with a service's migrations."""
    pools: list[asyncpg.Pool] = []

    async def factory(service: str = "points") -> tuple[str, asyncpg.Pool]:
        url = await create_database()
        await migrate(url, service)
        pool = await create_pool(url, min_size=1, max_size=12)
        pools.append(pool)
        return url, pool

    yield factory
    for pool in pools:
        await pool.close()


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    """A migrated points database: what the points tests work on unless a module says otherwise."""
    _, pool = await migrated_pool("points")
    return pool


@pytest.fixture
async def points_address(pool: asyncpg.Pool, kafka_settings: KafkaSettings) -> AsyncIterator[str]:
    """The points gRPC server, in-process on `pool`, at the address this yields."""
    settings = replace(service_settings("points", {}), kafka=kafka_settings, grpc_port=0)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(grace=1)


@pytest.fixture
async def channel(points_address: str) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the points gRPC server of `points_address`."""
    async with grpc.aio.insecure_channel(points_address) as channel:
        yield channel


@pytest.fixture
def app(pool: asyncpg.Pool) -> PointsApplication:
    """Points use cases earning the flat 2 points per whole currency unit (no program applied)."""
    return PointsApplication(pool, 2)


@pytest.fixture
def ledger(pool: asyncpg.Pool) -> LedgerApplication:
    return LedgerApplication(pool)


@pytest.fixture
def fresh_topic(kafka_settings: KafkaSettings) -> TopicFactory:
    """A topic (and its dead-letter topic) that no other test uses."""

    async def factory(prefix: str = "test") -> str:
        topic = f"{prefix}.{uuid.uuid4().hex[:12]}"
        await ensure_topics(kafka_settings, [topic, dead_letter_topic(topic)])
        return topic

    return factory


@pytest.fixture
async def own_broker() -> AsyncIterator[EmbeddedBroker]:
    """A broker of the test's own, not yet started: the test may stop, kill and restart it (it comes back empty)."""
    broker = EmbeddedBroker()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(**kafka_settings.client_options(), enable_idempotence=False, acks="all")
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def rewards_world(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[RewardsWorld]:
    """The rewards service calling a real points service, both in-process on fresh databases."""
    async with started_rewards_world(migrated_pool, kafka_settings) as world:
        yield world


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test (the process's provider is the one services install)."""
    exporter = InMemorySpanExporter()
    configure_tracing("tests").add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # it keeps nothing more; the provider offers no way to remove a processor
