"""The tickets and points gRPC servers in-process on real PostgreSQL, with a clock the tests move.

Test modules import the fixtures by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from loyalty.points.v1 import points_pb2_grpc
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import agents_pb2_grpc, tickets_pb2_grpc

from services.common.embedded import free_port
from services.common.grpc_server import GrpcServer
from services.common.member_tiers import _set_tier
from services.common.runtime import ServiceParts
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build as build_points
from services.tickets.config import TicketsSettings
from services.tickets.main import assemble
from tests.integration.support import PoolFactory

# A Monday, 10:00 UTC: inside business hours.
START = datetime(2026, 11, 23, 10, tzinfo=UTC)


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class TicketsPlatform:
    tickets: tickets_pb2_grpc.TicketsServiceStub
    agents: agents_pb2_grpc.AgentServiceStub
    points: points_pb2_grpc.PointsServiceStub
    points_channel: grpc.aio.Channel
    pool: asyncpg.Pool
    points_pool: asyncpg.Pool
    clock: ManualClock
    parts: ServiceParts

    async def set_tier(self, member_id: str, tier: str) -> None:
        async with self.pool.acquire() as connection:
            await _set_tier(connection, member_id, tier, self.clock.now)

    async def run_sla_job(self) -> object:
        return await self.parts.jobs[0].run_once()

    async def outbox(self, event_type: str) -> list[bytes]:
        rows = await self.pool.fetch(
            "SELECT envelope FROM outbox WHERE event_type = $1 ORDER BY id", f"loyalty.events.v1.{event_type}"
        )
        return [r["envelope"] for r in rows]


async def _serve(registrations: ServiceParts) -> GrpcServer:
    server = GrpcServer("127.0.0.1:0", registrations.registrations)
    await server.start()
    return server


@pytest.fixture
async def platform(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[TicketsPlatform]:
    _, points_pool = await migrated_pool("points")
    _, pool = await migrated_pool("tickets")
    points_settings = replace(service_settings("points", {}), kafka=kafka_settings, base_earn_rate=2)
    points_server = await _serve(build_points(points_settings, points_pool))
    clock = ManualClock(START)
    own = TicketsSettings(policy_file=None, sla_interval_s=60)
    settings = replace(
        service_settings("tickets", {}), kafka=kafka_settings, points_grpc_target=f"127.0.0.1:{points_server.port}"
    )
    parts = assemble(settings, pool, own, clock)
    tickets_server = await _serve(parts)
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{tickets_server.port}") as channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{points_server.port}") as points_channel,
        ):
            yield TicketsPlatform(
                tickets=tickets_pb2_grpc.TicketsServiceStub(channel),
                agents=agents_pb2_grpc.AgentServiceStub(channel),
                points=points_pb2_grpc.PointsServiceStub(points_channel),
                points_channel=points_channel,
                pool=pool,
                points_pool=points_pool,
                clock=clock,
                parts=parts,
            )
    finally:
        await tickets_server.stop(grace=1)
        await points_server.stop(grace=1)


@contextlib.asynccontextmanager
async def tickets_without_points(platform: TicketsPlatform) -> AsyncIterator[tickets_pb2_grpc.TicketsServiceStub]:
    """A second tickets server on the platform's database and clock whose points service never answers."""
    settings = replace(service_settings("tickets", {}), points_grpc_target=f"127.0.0.1:{free_port()}")
    server = await _serve(
        assemble(settings, platform.pool, TicketsSettings(policy_file=None, sla_interval_s=60), platform.clock)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield tickets_pb2_grpc.TicketsServiceStub(channel)
    finally:
        await server.stop(grace=1)


def agent(
    agent_id: str,
    skills: dict[str, int],
    *,
    languages: tuple[str, ...] = ("en",),
    capacity: int = 5,
    status: int = agents_pb.AGENT_STATUS_AVAILABLE,
    goodwill_limit: int = 0,
    tiers: tuple[str, ...] = (),
) -> agents_pb.UpsertAgentRequest:
    return agents_pb.UpsertAgentRequest(
        agent=agents_pb.Agent(
            agent_id=agent_id,
            display_name=agent_id.title(),
            skills=[agents_pb.AgentSkill(skill=s, level=level) for s, level in skills.items()],
            languages=list(languages),
            tiers=list(tiers),
            capacity=capacity,
            status=status,
            goodwill_limit=goodwill_limit,
        )
    )
