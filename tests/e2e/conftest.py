"""The platform started the way `loyalty dev` starts it, driven only through gRPC and Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.points.v1 import points_pb2_grpc

from services.dev import Platform
from tests.e2e.emitted_events import contradicting_platform_events
from tests.otlp_collector import Collector, collecting


@asynccontextmanager
async def running_platform(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_url: str,
    extra_env: dict[str, str] | None = None,
    *,
    seed: bool = True,
) -> AsyncIterator[Platform]:
    """The platform as `loyalty dev` starts it, on free ports (metrics too), databases of its own and `extra_env`.

    On leaving, every event its services emitted is read back and held to what consumers require of a message.
    """
    platform = Platform.on_free_ports(
        Path(tmp_path_factory.mktemp("platform")),
        # A session of 6 s (Kafka's least by default) has the embedded broker hold each group join 3 s, not 5.
        {"LOYALTY_OUTBOX_POLL_MS": "50", "LOYALTY_KAFKA_SESSION_TIMEOUT_MS": "6000", **(extra_env or {})},
        postgres_admin_url=postgres_admin_url,
        database_prefix=f"e2e_{uuid.uuid4().hex[:8]}_",
        drop_databases_on_stop=True,
        seed=seed,
    )
    await platform.start()
    try:
        yield platform
        # Whatever flows ran on it: none of the events they made the services emit may be one that a consumer
        # dead-letters for contradicting itself (a subject, key or header not agreeing).
        assert await contradicting_platform_events(platform.kafka_bootstrap) == []
    finally:
        await platform.stop()


@pytest.fixture(scope="session")
async def collector() -> AsyncIterator[Collector]:
    """Where the shared platform's services export their spans."""
    async with collecting() as running:
        yield running


@pytest.fixture(scope="session")
async def platform(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str, collector: Collector
) -> AsyncIterator[Platform]:
    """The shared platform; it runs without a program, so purchases earn the flat base rate."""
    # Spans go out in batches every 200 ms rather than every 5 s.
    telemetry = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with running_platform(tmp_path_factory, postgres_admin_url, telemetry) as shared:
        yield shared


@pytest.fixture(scope="session")
async def points(platform: Platform) -> AsyncIterator[points_pb2_grpc.PointsServiceStub]:
    async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
        yield points_pb2_grpc.PointsServiceStub(channel)


@pytest.fixture(scope="session")
async def producer(platform: Platform) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()
