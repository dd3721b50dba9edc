"""Rewards at the edges: free rewards, stock across unlimited spells, retries after UNAVAILABLE, malformed perk
events, campaign keys, a welcome perk's tier and concurrent ladders."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import points_pb2 as events
from loyalty.rewards.v1 import catalog_pb2, codes_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.errors import Unavailable
from services.common.events import timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC, dead_letter_topic
from services.common.settings import KafkaSettings
from services.rewards.perks import BirthdayJob
from services.rewards.points_client import PointsClient
from services.rewards.redemption import RedemptionApplication
from tests.integration.rewards_support import OPTIONS, RewardsWorld, reward_spec
from tests.integration.support import eventually, field_violations, header, read_topic
from tests.integration.test_rewards_perks import perks_consumed, publish
from tests.integration.test_rewards_redemption import redeem

PERK = {"cost_points": 0, "kind": catalog_pb2.REWARD_KIND_UPGRADE, "sku": "lounge", "amount": None}


async def test_a_free_reward_for_a_member_nobody_knows_is_not_found_and_takes_no_stock(
    rewards_world: RewardsWorld,
) -> None:
    reward = await rewards_world.reward(cost_points=0, stock_total=5)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.rewards.RedeemReward(redeem("no-such-member", reward.reward_id))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 5
    known = await rewards_world.member_with(1)
    redeemed = await rewards_world.rewards.RedeemReward(redeem(known, reward.reward_id))
    assert redeemed.redemption.status == pb.REDEMPTION_STATUS_COMPLETED


async def test_units_issued_while_unlimited_stay_issued_when_the_stock_is_limited(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(1000)
    reward = await rewards_world.reward()  # unlimited
    done = (await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))).redemption

    def limited_to(total: int | None) -> catalog_pb2.UpdateRewardRequest:
        return catalog_pb2.UpdateRewardRequest(reward_id=reward.reward_id, spec=reward_spec(stock_total=total))

    with pytest.raises(grpc.aio.AioRpcError) as below:
        await rewards_world.catalog.UpdateReward(limited_to(0))
    assert below.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "below the 1 unit already issued" in (below.value.details() or "")
    assert (await rewards_world.catalog.UpdateReward(limited_to(1))).reward.stock_available == 0
    with pytest.raises(grpc.aio.AioRpcError) as sold_out:
        await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))
    assert sold_out.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await rewards_world.catalog.UpdateReward(limited_to(None))
    assert (await rewards_world.catalog.UpdateReward(limited_to(1))).reward.stock_available == 0

    cancelled = await rewards_world.rewards.CancelRedemption(
        pb.CancelRedemptionRequest(redemption_id=done.redemption_id, reason="changed my mind")
    )
    assert cancelled.redemption.status == pb.REDEMPTION_STATUS_CANCELLED
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1


class CaptureTimesOutOnce(PointsClient):
    """The points service does not answer the first capture (which therefore did not happen)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.failures = 1

    async def capture(self, hold_id: str) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("points service: DEADLINE_EXCEEDED: simulated")
        await super().capture(hold_id)


@pytest.fixture
async def capture_times_out_once(rewards_world: RewardsWorld) -> AsyncIterator[CaptureTimesOutOnce]:
    client = CaptureTimesOutOnce(rewards_world.points_target)
    yield client
    await client.close()


async def test_calling_again_with_the_same_key_after_unavailable_finishes_the_redemption(
    rewards_world: RewardsWorld, capture_times_out_once: CaptureTimesOutOnce
) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward()
    redemptions = RedemptionApplication(rewards_world.rewards_pool, capture_times_out_once, OPTIONS)
    with pytest.raises(Unavailable):
        await redemptions.redeem(member_id, reward.reward_id, "retry-key")
    row, repeated = await redemptions.redeem(member_id, reward.reward_id, "retry-key")
    assert (row.step, repeated, row.code is not None) == ("completed", True, True)
    again, _ = await redemptions.redeem(member_id, reward.reward_id, "retry-key")
    assert (again.redemption_id, again.step) == (row.redemption_id, "completed")


async def test_malformed_perk_events_are_dead_lettered_and_birthdays_still_come(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer, kafka_settings: KafkaSettings
) -> None:
    await rewards_world.reward(trigger=catalog_pb2.REWARD_TRIGGER_BIRTHDAY, name="Birthday cake", **PERK)
    welcome = await rewards_world.reward(trigger=catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", **PERK)
    good = f"m-{uuid.uuid4().hex[:8]}"
    sent = [
        await publish(
            producer,
            "",
            events.MemberEnrolled(
                enrolled_at=timestamp(datetime.now(UTC)), member_id="", tier="base", birth_date="1990-06-01"
            ),
        ),
        await publish(producer, good, events.TierReached(member_id="", tier="gold")),
        await publish(producer, good, events.TierReached(member_id=good, tier="")),
        await publish(
            producer,
            good,
            events.MemberEnrolled(
                enrolled_at=timestamp(datetime.now(UTC)), member_id=good, tier="base", birth_date="1990-06-01"
            ),
        ),
    ]
    await perks_consumed(rewards_world, sent)
    malformed = set(sent[:3])

    async def dead_lettered() -> bool:
        # The topic is the test session's: other tests' events are on it (and dead-lettered) too.
        letters = await read_topic(kafka_settings, dead_letter_topic(POINTS_EVENTS_TOPIC), 1)
        return {header(r, "ce_id") for r in letters} >= malformed

    await eventually(dead_lettered, what="the three malformed events dead-lettered")
    ours = [good, ""]
    stored = await rewards_world.rewards_pool.fetch(
        "SELECT member_id FROM member_birthdays WHERE member_id = ANY($1::text[])", ours
    )
    assert [r["member_id"] for r in stored] == [good]
    await BirthdayJob(rewards_world.rewards_pool).run_once(date(2027, 6, 1))
    granted = await rewards_world.rewards_pool.fetch(
        "SELECT member_id, reward_id FROM redemptions WHERE member_id = ANY($1::text[])", ours
    )
    assert [r["member_id"] for r in granted] == [good]
    assert str(granted[0]["reward_id"]) != welcome.reward_id


async def test_a_campaign_key_repeated_with_other_terms_is_refused(rewards_world: RewardsWorld) -> None:
    def campaign(percent_off: int, uses_per_code: int) -> codes_pb2.CreatePromoCampaignRequest:
        return codes_pb2.CreatePromoCampaignRequest(
            name="Summer",
            value=codes_pb2.CodeValue(kind=catalog_pb2.REWARD_KIND_DISCOUNT_PERCENT, percent_off=percent_off),
            code_count=3,
            uses_per_code=uses_per_code,
            idempotency_key="summer-key",
        )

    first = await rewards_world.codes.CreatePromoCampaign(campaign(5, 1))
    repeated = await rewards_world.codes.CreatePromoCampaign(campaign(5, 1))
    assert (repeated.duplicate, repeated.campaign.campaign_id) == (True, first.campaign.campaign_id)
    for other in (campaign(50, 1), campaign(5, 1000)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await rewards_world.codes.CreatePromoCampaign(other)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_welcome_perk_keeps_its_tier(rewards_world: RewardsWorld) -> None:
    spec = {"trigger": catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, "name": "Welcome", **PERK}
    welcome = await rewards_world.reward(trigger_tier="gold", **spec)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.catalog.UpdateReward(
            catalog_pb2.UpdateRewardRequest(
                reward_id=welcome.reward_id, spec=reward_spec(trigger_tier="platinum", **spec)
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.trigger_tier" in (refused.value.details() or "")


async def test_concurrent_ladder_replacements_each_apply_whole(rewards_world: RewardsWorld) -> None:
    ladders = [["a", "b", "c"], ["a", "b", "c", "d"]] * 4
    await asyncio.gather(
        *(rewards_world.catalog.SetTierLadder(catalog_pb2.SetTierLadderRequest(tiers=t)) for t in ladders)
    )
    tiers = [r["tier"] for r in await rewards_world.rewards_pool.fetch("SELECT tier FROM tier_ladder ORDER BY rank")]
    assert tiers in ladders


async def test_a_malformed_member_id_is_refused_naming_it_before_anything_is_asked(rewards_world: RewardsWorld) -> None:
    reward = await rewards_world.reward()
    calls = [
        rewards_world.rewards.RedeemReward(redeem("not a member", reward.reward_id)),
        rewards_world.rewards.ListRedemptions(pb.ListRedemptionsRequest(member_id="x" * 65)),
        rewards_world.catalog.ListRewards(catalog_pb2.ListRewardsRequest(member_id="who?")),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(refused.value)) == {"member_id"}
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
