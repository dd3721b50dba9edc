"""The rewards service with a real points service, both in-process on real PostgreSQL, for integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import asyncpg
import grpc
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2, points_pb2_grpc
from loyalty.rewards.v1 import catalog_pb2, catalog_pb2_grpc, codes_pb2_grpc, rewards_pb2_grpc

from services.common.grpc_server import GrpcServer
from services.common.runtime import ServiceParts
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build as build_points
from services.rewards.main import build as build_rewards
from services.rewards.settings import RewardsSettings
from tests.integration.support import PoolFactory

OPTIONS = RewardsSettings(
    hold_ttl=timedelta(minutes=15),
    lease=timedelta(seconds=30),
    recovery_interval_s=1,
    birthday_interval_s=3600,
    exit_before_capture=False,
)


@dataclass
class RewardsWorld:
    """Stubs of both services, their databases, and the rewards service's parts (jobs, consumers)."""

    points: points_pb2_grpc.PointsServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    rewards: rewards_pb2_grpc.RewardsServiceStub
    codes: codes_pb2_grpc.CodesServiceStub
    points_pool: asyncpg.Pool
    rewards_pool: asyncpg.Pool
    parts: ServiceParts
    points_target: str

    async def member_with(self, points: int) -> str:
        """A new member holding `points` available points."""
        member_id = f"m-{uuid.uuid4().hex[:12]}"
        await self.points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id))
        await self.points.AdjustPoints(
            points_pb2.AdjustPointsRequest(
                member_id=member_id, points=points, reason="test credit", actor="test", idempotency_key=member_id
            )
        )
        return member_id

    async def balance(self, member_id: str) -> points_pb2.GetBalanceResponse:
        return await self.points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id))

    async def holds(self, status: str) -> int:
        """Holds in the points database with this status."""
        return int(await self.points_pool.fetchval("SELECT count(*) FROM holds WHERE status = $1", status))

    async def reward(self, **fields: object) -> catalog_pb2.Reward:
        response = await self.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=reward_spec(**fields)))
        return response.reward


def reward_spec(**fields: object) -> catalog_pb2.RewardSpec:
    """A redeemable discount voucher with unlimited stock costing 100 points, with `fields` changed."""
    spec = catalog_pb2.RewardSpec(
        name="5 USD off",
        kind=catalog_pb2.REWARD_KIND_DISCOUNT_FIXED,
        cost_points=100,
        code_source=catalog_pb2.CODE_SOURCE_GENERATED,
        trigger=catalog_pb2.REWARD_TRIGGER_REDEEM,
        code_validity=Duration(seconds=30 * 86400),
    )
    spec.amount.amount_minor, spec.amount.currency_code = 500, "USD"
    for name, value in fields.items():
        if value is None:
            spec.ClearField(name)
        elif hasattr(value, "CopyFrom"):
            getattr(spec, name).CopyFrom(value)
        else:
            setattr(spec, name, value)
    return spec


@asynccontextmanager
async def started_rewards_world(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, options: RewardsSettings = OPTIONS
) -> AsyncIterator[RewardsWorld]:
    _, points_pool = await migrated_pool("points")
    _, rewards_pool = await migrated_pool("rewards")
    points_settings = replace(service_settings("points", {}), kafka=kafka_settings, grpc_port=0)
    points_server = GrpcServer("127.0.0.1:0", build_points(points_settings, points_pool).registrations)
    await points_server.start()
    rewards_settings = replace(
        service_settings("rewards", {}),
        kafka=kafka_settings,
        grpc_port=0,
        points_grpc_target=f"127.0.0.1:{points_server.port}",
    )
    parts = build_rewards(rewards_settings, rewards_pool, options)
    rewards_server = GrpcServer("127.0.0.1:0", parts.registrations)
    await rewards_server.start()
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{points_server.port}") as points_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{rewards_server.port}") as channel,
        ):
            yield RewardsWorld(
                points=points_pb2_grpc.PointsServiceStub(points_channel),
                catalog=catalog_pb2_grpc.CatalogServiceStub(channel),
                rewards=rewards_pb2_grpc.RewardsServiceStub(channel),
                codes=codes_pb2_grpc.CodesServiceStub(channel),
                points_pool=points_pool,
                rewards_pool=rewards_pool,
                parts=parts,
                points_target=rewards_settings.points_grpc_target,
            )
    finally:
        await rewards_server.stop(grace=1)
        await points_server.stop(grace=1)
