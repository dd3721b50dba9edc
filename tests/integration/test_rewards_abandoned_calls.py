"""A redemption whose call stopped mid-way (its client's deadline passed, or the client cancelled): the call gives
its lease up, and a retry with the same key carries the redemption on at once rather than answering PENDING
until the lease runs out. Steps the stopped call had in flight may still land; keyed, they change nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.errors import Unavailable
from services.rewards import domain
from services.rewards import redemption_store as store
from services.rewards.points_client import PointsClient
from services.rewards.redemption import RedemptionApplication, hold_key
from tests.integration.rewards_support import OPTIONS, RewardsWorld
from tests.integration.support import eventually
from tests.integration.test_rewards_recovery import LEASE_OVER, HoldAnsweredLate


@asynccontextmanager
async def points_client(target: str) -> AsyncIterator[PointsClient]:
    client = PointsClient(target)
    try:
        yield client
    finally:
        await client.close()


async def test_a_retry_after_a_call_cancelled_mid_way_completes_at_once_and_its_late_steps_change_nothing(
    rewards_world: RewardsWorld,
) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=2)
    late = HoldAnsweredLate(rewards_world.points_target)
    try:
        call = asyncio.create_task(
            RedemptionApplication(rewards_world.rewards_pool, late, OPTIONS).redeem(member_id, reward.reward_id, "key")
        )
        await late.answered.wait()  # the hold is placed, and not yet recorded
        call.cancel()  # as gRPC cancels the handler once the client's deadline passes or it cancels
        with pytest.raises(asyncio.CancelledError):
            await call
    finally:
        await late.close()

    async with points_client(rewards_world.points_target) as points:
        retried, duplicate = await RedemptionApplication(rewards_world.rewards_pool, points, OPTIONS).redeem(
            member_id, reward.reward_id, "key"
        )
    assert duplicate and retried.step == "completed" and retried.code

    # What the stopped call had in flight lands only now: the same hold, captured again.
    hold = await rewards_world.points.HoldPoints(
        points_pb2.HoldPointsRequest(
            member_id=member_id,
            points=100,
            idempotency_key=hold_key(uuid.UUID(retried.redemption_id)),
            ttl=Duration(seconds=600),
        )
    )
    await rewards_world.points.CaptureHold(points_pb2.CaptureHoldRequest(hold_id=hold.hold.hold_id))
    balance = await rewards_world.balance(member_id)
    assert (balance.balance, balance.available, balance.held) == (200, 200, 0)
    assert (await rewards_world.holds("captured"), await rewards_world.holds("held")) == (1, 0)
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM codes") == 1


async def test_a_retry_after_a_deadline_exceeded_completes_the_redemption_at_once(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=2)
    request = pb.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key="key")
    async with rewards_world.points_pool.acquire() as connection, connection.transaction():
        # The member's row locked: HoldPoints waits until the client's deadline has passed.
        await connection.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        with pytest.raises(grpc.aio.AioRpcError) as stopped:
            await rewards_world.rewards.RedeemReward(request, timeout=0.3)
        assert stopped.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # By the cancelled handler, which the client does not wait for; well before the lease (30 s) would run out.
    lease_over = "SELECT bool_and(lease_until <= now()) FROM redemptions"
    await eventually(lambda: rewards_world.rewards_pool.fetchval(lease_over), within=10, what="the lease given up")

    retried = await rewards_world.rewards.RedeemReward(request, timeout=10)
    assert retried.duplicate and retried.redemption.status == pb.REDEMPTION_STATUS_COMPLETED
    assert retried.redemption.code
    balance = await rewards_world.balance(member_id)
    assert (balance.balance, balance.available, balance.held) == (200, 200, 0)
    assert (await rewards_world.holds("captured"), await rewards_world.holds("held")) == (1, 0)
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1


async def test_a_call_that_stops_leaves_alone_a_lease_taken_over_since(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward()
    unreachable = HoldAnsweredLate("127.0.0.1:1")  # UNAVAILABLE, acted on once `go` is set
    try:
        call = asyncio.create_task(
            RedemptionApplication(rewards_world.rewards_pool, unreachable, LEASE_OVER).redeem(
                member_id, reward.reward_id, "key"
            )
        )
        await unreachable.answered.wait()
        async with rewards_world.rewards_pool.acquire() as connection:  # the recovery job takes the call's lease over
            taken = await store.claim_stale(connection, domain.utc_now(), timedelta(minutes=10), 1)
        unreachable.go.set()
        with pytest.raises(Unavailable):
            await call
    finally:
        await unreachable.close()
    assert len(taken) == 1
    # The recovery job's lease stays: the call gave up only the one it had taken, which had run out.
    assert await rewards_world.rewards_pool.fetchval(
        "SELECT lease_until > now() + interval '5 minutes' FROM redemptions"
    )
