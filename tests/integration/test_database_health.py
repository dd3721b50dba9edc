"""A database that stops answering takes the service out of rotation (health NOT_SERVING, loyalty_database_up 0),
and one that answers again puts it back, without a restart. The database sits behind a TCP proxy the test cuts:
while cut, connecting is refused (nothing listens) and open sessions are reset, as when PostgreSQL goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlsplit

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.common.database_health import DatabaseMonitor
from services.common.db import create_pool
from services.common.grpc_server import GrpcServer
from services.common.health_cli import check_health
from services.common.metrics import OUTBOX_GAUGES, POINTS_GAUGES, MetricsEndpoint
from services.common.server_health import LIVENESS
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build
from tests.integration.support import PoolFactory, eventually
from tests.integration.test_metrics import Scraper

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to the database server; `cut` closes the port and resets every session."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for transport in list(self._transports):
            transport.abort()
        await self._server.wait_closed()

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        transports = {client_writer.transport, server_writer.transport}
        self._transports |= transports
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            self._transports -= transports


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxied_url(migrated_pool: PoolFactory) -> AsyncIterator[tuple[str, CuttableProxy]]:
    url, _ = await migrated_pool("points")
    parts = urlsplit(url)
    if parts.hostname is None:
        pytest.skip("the test database is not on TCP (a unix socket): nothing to put a proxy in front of")
    proxy = CuttableProxy(parts.hostname, parts.port or 5432)
    await proxy.open()
    netloc = parts.netloc.rsplit("@", 1)
    netloc[-1] = f"127.0.0.1:{proxy.port}"
    yield parts._replace(netloc="@".join(netloc)).geturl(), proxy
    await proxy.cut()


async def _status(channel: grpc.aio.Channel, service: str = "") -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(reply.status)


async def test_readiness_and_database_up_follow_the_database(
    proxied_url: tuple[str, CuttableProxy], kafka_settings: KafkaSettings
) -> None:
    url, proxy = proxied_url
    pool = await create_pool(url)
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    monitor = DatabaseMonitor(url, server.set_ready, interval_s=0.2, timeout_s=0.5)
    metrics = MetricsEndpoint(pool, [*OUTBOX_GAUGES, *POINTS_GAUGES], database_up=lambda: monitor.up)
    scrape = Scraper(metrics.start("127.0.0.1", 0))
    checking = asyncio.create_task(monitor.run())
    await server.start()
    api = "loyalty.points.v1.PointsService"
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            points = points_pb2_grpc.PointsServiceStub(channel)

            async def refused_with() -> grpc.StatusCode:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await points.GetBalance(pb.GetBalanceRequest(member_id="nobody"), timeout=10)
                return refused.value.code()

            samples = await scrape()
            assert samples[("loyalty_database_up", frozenset())] == 1
            assert ("loyalty_outbox_backlog_rows", frozenset()) in samples
            assert await _status(channel) == SERVING and await _status(channel, api) == SERVING
            assert await refused_with() == grpc.StatusCode.NOT_FOUND

            await proxy.cut()
            await eventually(lambda: _is(channel, "", NOT_SERVING), within=10, what="NOT_SERVING")
            assert await _status(channel, api) == NOT_SERVING
            assert await _status(channel, LIVENESS) == SERVING  # the process answers: nothing to restart
            address = f"127.0.0.1:{server.port}"  # as `loyalty health points [--liveness]` asks
            assert await check_health(address, server_name=None, timeout_s=5) == "NOT_SERVING"
            assert await check_health(address, server_name=None, timeout_s=5, service=LIVENESS) == "SERVING"
            samples = await scrape()
            assert samples[("loyalty_database_up", frozenset())] == 0
            # Unreadable while the database is away: left out at once, not waited for.
            assert ("loyalty_outbox_backlog_rows", frozenset()) not in samples
            assert await refused_with() == grpc.StatusCode.UNAVAILABLE

            await proxy.open()
            await eventually(lambda: _is(channel, "", SERVING), within=10, what="SERVING again")
            assert await _status(channel, api) == SERVING
            samples = await scrape()
            assert samples[("loyalty_database_up", frozenset())] == 1
            assert samples[("loyalty_outbox_backlog_rows", frozenset())] == 0
            await eventually(lambda: _refused_not_found(points), within=10, what="calls served again by the pool")
    finally:
        await server.stop(grace=1)
        # A stopping server stays NOT_SERVING whatever the database does (the servicer outlives the server).
        await server.set_ready(True)
        assert server._health._server_status[""] == NOT_SERVING
        checking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checking
        metrics.stop()
        await pool.close()


async def _is(channel: grpc.aio.Channel, service: str, status: int) -> bool:
    return await _status(channel, service) == status


async def _refused_not_found(points: points_pb2_grpc.PointsServiceStub) -> bool:
    try:
        await points.GetBalance(pb.GetBalanceRequest(member_id="nobody"), timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.NOT_FOUND
    return False
