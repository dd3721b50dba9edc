"""Redeeming rewards through gRPC, against a real points service: holds, stock, codes, idempotency, refusals."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import grpc
import pytest
from loyalty.events.v1 import rewards_pb2 as reward_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.rewards.v1 import catalog_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.rewards.codes import ALPHABET, LENGTH
from services.rewards.points_client import PointsClient
from services.rewards.redemption import RedemptionApplication
from tests.integration.rewards_support import OPTIONS, RewardsWorld


def redeem(member_id: str, reward_id: str, key: str | None = None) -> pb.RedeemRewardRequest:
    return pb.RedeemRewardRequest(member_id=member_id, reward_id=reward_id, idempotency_key=key or uuid.uuid4().hex)


async def test_redeem_spends_the_points_takes_stock_and_issues_a_code(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(250)
    reward = await rewards_world.reward(stock_total=3)

    response = await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))

    redemption = response.redemption
    assert redemption.status == pb.REDEMPTION_STATUS_COMPLETED
    assert (redemption.points, response.duplicate) == (100, False)
    assert len(redemption.code) == LENGTH and set(redemption.code) <= set(ALPHABET)
    balance = await rewards_world.balance(member_id)
    assert (balance.balance, balance.available, balance.held) == (150, 150, 0)
    assert (
        await rewards_world.catalog.GetReward(catalog_pb2.GetRewardRequest(reward_id=reward.reward_id))
    ).reward.stock_available == 2
    assert await rewards_world.holds("captured") == 1
    events = await rewards_world.rewards_pool.fetch(
        "SELECT event_type, envelope FROM outbox WHERE topic = 'rewards.events.v1'"
    )
    assert [e["event_type"] for e in events] == ["loyalty.events.v1.RewardRedeemed"]
    announced = reward_events.RewardRedeemed()
    assert EventEnvelope.FromString(events[0]["envelope"]).payload.Unpack(announced)
    assert announced.reward_name == "5 USD off"  # what the member's message calls it, never the reward's id


async def test_the_same_idempotency_key_returns_the_same_redemption(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(1000)
    reward = await rewards_world.reward()
    first = await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id, "key-1"))
    again = await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id, "key-1"))
    assert again.duplicate
    assert again.redemption.redemption_id == first.redemption.redemption_id
    assert again.redemption.code == first.redemption.code
    assert (await rewards_world.balance(member_id)).balance == 900


async def test_not_enough_points_is_refused_and_leaves_nothing(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(99)
    reward = await rewards_world.reward(stock_total=1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not enough points" in (refused.value.details() or "")
    assert (await rewards_world.balance(member_id)).available == 99
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"min_tier": "gold"}, "needs tier gold"),
        ({"per_member_limit": 1, "limit_period": catalog_pb2.LIMIT_PERIOD_MONTH}, "per-member limit"),
    ],
)
async def test_ineligible_members_are_refused_with_the_reason(
    rewards_world: RewardsWorld, fields: dict[str, object], reason: str
) -> None:
    await rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=["base", "silver", "gold"]))
    member_id = await rewards_world.member_with(1000)
    reward = await rewards_world.reward(**fields)
    if "per_member_limit" in fields:
        await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason in (refused.value.details() or "")


async def test_a_tier_gated_reward_asks_the_points_service_for_a_member_the_local_view_lacks(
    rewards_world: RewardsWorld,
) -> None:
    # No consumer keeps the local tier view here, as when the member's enrolment event is still on its way.
    await rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=["base", "silver", "gold"]))
    member_id = await rewards_world.member_with(1000)
    for_everyone, for_gold = await rewards_world.reward(min_tier="base"), await rewards_world.reward(min_tier="gold")
    listed = await rewards_world.catalog.ListRewards(catalog_pb2.ListRewardsRequest(member_id=member_id))
    assert [reward.reward_id for reward in listed.rewards] == [for_everyone.reward_id]
    response = await rewards_world.rewards.RedeemReward(redeem(member_id, for_everyone.reward_id))
    assert response.redemption.status == pb.REDEMPTION_STATUS_COMPLETED
    with pytest.raises(grpc.aio.AioRpcError) as ineligible:
        await rewards_world.rewards.RedeemReward(redeem(member_id, for_gold.reward_id))
    assert ineligible.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "needs tier gold or above, member is base" in (ineligible.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as unknown_member:
        await rewards_world.rewards.RedeemReward(redeem("nobody", for_gold.reward_id))
    assert unknown_member.value.code() == grpc.StatusCode.NOT_FOUND
    assert "member_id" in (unknown_member.value.details() or "")


class TierAnsweredOnCue(PointsClient):
    """The real points client, whose tier question waits until the test lets it through."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.asked, self.answer = asyncio.Event(), asyncio.Event()

    async def tier(self, member_id: str) -> str:
        self.asked.set()
        await self.answer.wait()
        return await super().tier(member_id)


async def test_asking_the_points_service_for_a_tier_holds_no_transaction_or_member_lock(
    rewards_world: RewardsWorld,
) -> None:
    await rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=["base", "gold"]))
    member_id = await rewards_world.member_with(1000)  # not in the local tier view: no consumer runs here
    reward = await rewards_world.reward(min_tier="base")
    points = TierAnsweredOnCue(rewards_world.points_target)
    application = RedemptionApplication(rewards_world.rewards_pool, points, OPTIONS)
    redeeming = asyncio.create_task(application.redeem(member_id, reward.reward_id, "slow-points"))
    try:
        await asyncio.wait_for(points.asked.wait(), timeout=10)
        held = await rewards_world.rewards_pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity a
                WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                  AND (a.state LIKE 'idle in transaction%'
                       OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'))"""
        )
        assert held == 0
        points.answer.set()
        redemption, repeated = await asyncio.wait_for(redeeming, timeout=10)
    finally:
        redeeming.cancel()
        await points.close()
    assert (redemption.step, repeated) == ("completed", False)
    assert (await rewards_world.balance(member_id)).available == 1000 - reward.spec.cost_points


async def test_out_of_stock_is_resource_exhausted(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(1000)
    reward = await rewards_world.reward(stock_total=0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await rewards_world.balance(member_id)).available == 1000


async def test_bad_requests_name_the_field_and_unknown_ones_are_not_found(rewards_world: RewardsWorld) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await rewards_world.rewards.RedeemReward(pb.RedeemRewardRequest(member_id="m", reward_id="nope"))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "idempotency_key" in (invalid.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await rewards_world.rewards.RedeemReward(redeem("m", str(uuid.uuid4())))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    reward = await rewards_world.reward()
    with pytest.raises(grpc.aio.AioRpcError) as unknown_member:
        await rewards_world.rewards.RedeemReward(redeem("nobody", reward.reward_id))
    assert unknown_member.value.code() == grpc.StatusCode.NOT_FOUND


async def test_200_concurrent_redemptions_of_10_units_exactly_10_succeed(rewards_world: RewardsWorld) -> None:
    reward = await rewards_world.reward(stock_total=10)
    members = [await rewards_world.member_with(500) for _ in range(200)]

    async def attempt(member_id: str) -> grpc.StatusCode:
        try:
            await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    outcomes = Counter(await asyncio.gather(*(attempt(m) for m in members)))

    assert outcomes == {grpc.StatusCode.OK: 10, grpc.StatusCode.RESOURCE_EXHAUSTED: 190}
    assert await rewards_world.holds("captured") == 10
    assert await rewards_world.holds("held") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM codes") == 10
    spent = await rewards_world.points_pool.fetchval("SELECT count(*) FROM members WHERE balance = 400")
    assert spent == 10
