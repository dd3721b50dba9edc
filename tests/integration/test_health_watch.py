"""grpc.health.v1.Health/Watch answers: the current status at once, then each change of it.

grpc's own health servicer writes Watch's answers with `context.write` from a coroutine instead of yielding
them; the interceptors iterated what the handler returned, a coroutine, and every Watch failed INTERNAL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.grpc_server import GrpcServer
from services.common.server_health import LIVENESS
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WATCHED = ["", LIVENESS, "loyalty.points.v1.PointsService"]
GRACE_S = 5.0


@pytest.fixture
async def server(pool: asyncpg.Pool, kafka_settings: KafkaSettings) -> AsyncIterator[GrpcServer]:
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=1)


def _watch(channel: grpc.aio.Channel, service: str) -> grpc.aio.UnaryStreamCall[Any, Any]:
    return health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service), timeout=30)


async def _next(call: grpc.aio.UnaryStreamCall[Any, Any]) -> int:
    reply = await asyncio.wait_for(call.read(), timeout=5)
    assert reply is not grpc.aio.EOF, f"the watch ended: {await call.code()} {await call.details()}"
    return int(reply.status)


async def test_watch_answers_serving_then_each_change_of_readiness(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        calls = {service: _watch(channel, service) for service in WATCHED}
        assert {service: await _next(call) for service, call in calls.items()} == dict.fromkeys(WATCHED, SERVING)
        await server.set_ready(False)
        readiness = {service: call for service, call in calls.items() if service != LIVENESS}
        assert {service: await _next(call) for service, call in readiness.items()} == dict.fromkeys(
            readiness, NOT_SERVING
        )
        await server.set_ready(True)
        assert {service: await _next(call) for service, call in readiness.items()} == dict.fromkeys(readiness, SERVING)
        for call in calls.values():
            call.cancel()


async def test_a_stopping_server_tells_its_watchers_not_serving_and_does_not_wait_out_its_grace_for_them(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings
) -> None:
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = _watch(channel, LIVENESS)
        assert await _next(call) == SERVING
        started = time.monotonic()
        stopping = asyncio.create_task(server.stop(grace=GRACE_S))
        assert await _next(call) == NOT_SERVING
        await stopping
        assert time.monotonic() - started < GRACE_S / 2
