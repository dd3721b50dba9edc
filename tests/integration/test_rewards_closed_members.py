"""Rewards for a member the points service closed: no redemption, no cancellation, no perk.

The rewards service learns the closure as points announces it (the MemberClosed points wrote to its outbox, sent
through the real broker to the member view consumer), and refuses before writing anything. A cancellation the
points service refuses because rewards has not read the closure yet is taken back, by the call or by the
recovery job, never left CANCELLING.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1 import rewards_pb2 as reward_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import catalog_pb2, codes_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.settings import KafkaSettings
from services.rewards.perks import BirthdayJob
from services.rewards.points_client import PointsClient
from services.rewards.recovery import RecoveryJob
from services.rewards.redemption import RedemptionApplication
from tests.integration.rewards_support import OPTIONS, RewardsWorld
from tests.integration.support import TopicFactory, deliver_member_closed
from tests.integration.test_rewards_perks import perk, perks_consumed, perks_of, publish
from tests.integration.test_rewards_recovery import LEASE_OVER, Crash, CreditUnanswered, crash

Closing = Callable[[str], Awaitable[None]]
REDEEM_REFUSED = "member_id: member {!r} is closed: no reward can be redeemed"
CANCEL_REFUSED = "member_id: member {!r} is closed: its points cannot be given back"
# As the points service says it, when it refuses the credit of a closure rewards has not read yet.
POINTS_REFUSED = "member_id: member {!r} is closed"


@pytest.fixture
def close(
    rewards_world: RewardsWorld, kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> Closing:
    """Close a member in points, then let the rewards service's member view consume the MemberClosed it wrote."""

    async def closing(member_id: str) -> None:
        await close_in_points(rewards_world, member_id)
        await deliver_member_closed(
            rewards_world.points_pool,
            "rewards",
            rewards_world.rewards_pool,
            member_id,
            kafka_settings=kafka_settings,
            producer=producer,
            fresh_topic=fresh_topic,
        )

    return closing


async def close_in_points(rewards_world: RewardsWorld, member_id: str) -> None:
    """Closed in points only: the rewards service has not read the MemberClosed yet."""
    await rewards_world.points.CloseMember(
        points_pb2.CloseMemberRequest(member_id=member_id, reason="member request", actor="agent-7")
    )


def redeeming(member_id: str, reward_id: str) -> pb.RedeemRewardRequest:
    return pb.RedeemRewardRequest(member_id=member_id, reward_id=reward_id, idempotency_key=uuid.uuid4().hex)


@dataclass
class Redeemed:
    member_id: str
    reward_id: str
    redemption: pb.Redemption


async def redeemed(rewards_world: RewardsWorld, stock_total: int = 5) -> Redeemed:
    """The tester's case: a member with 100 points redeems a 20-point reward (stock 5, 4 left after)."""
    member_id = await rewards_world.member_with(100)
    reward = await rewards_world.reward(cost_points=20, stock_total=stock_total)
    response = await rewards_world.rewards.RedeemReward(redeeming(member_id, reward.reward_id))
    assert response.redemption.status == pb.REDEMPTION_STATUS_COMPLETED
    return Redeemed(member_id, reward.reward_id, response.redemption)


async def assert_still_completed(rewards_world: RewardsWorld, done: Redeemed, stock_available: int = 4) -> None:
    """As before the cancellation was asked: completed, its code usable, its unit out, nothing announced."""
    fetched = (
        await rewards_world.rewards.GetRedemption(pb.GetRedemptionRequest(redemption_id=done.redemption.redemption_id))
    ).redemption
    assert fetched.status == pb.REDEMPTION_STATUS_COMPLETED
    assert not fetched.HasField("cancelled_at")
    check = await rewards_world.codes.ValidateCode(codes_pb2.ValidateCodeRequest(code=done.redemption.code))
    assert (check.usable, check.reason) == (True, "")
    reward = await rewards_world.catalog.GetReward(catalog_pb2.GetRewardRequest(reward_id=done.reward_id))
    assert reward.reward.stock_available == stock_available
    assert await outbox_types(rewards_world) == ["loyalty.events.v1.RewardRedeemed"]


async def outbox_types(rewards_world: RewardsWorld) -> list[str]:
    rows = await rewards_world.rewards_pool.fetch("SELECT event_type FROM outbox ORDER BY event_type")
    return [row["event_type"] for row in rows]


async def refusal_of(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    return refused.value


def cancelling(done: Redeemed) -> pb.CancelRedemptionRequest:
    return pb.CancelRedemptionRequest(redemption_id=done.redemption.redemption_id, reason="closing")


# -- cancelling -------------------------------------------------------------------------------------------


async def test_cancelling_a_closed_members_redemption_is_refused_and_writes_nothing(
    rewards_world: RewardsWorld, close: Closing
) -> None:
    done = await redeemed(rewards_world)
    await close(done.member_id)

    refused = await refusal_of(rewards_world.rewards.CancelRedemption(cancelling(done)))

    assert refused.details() == CANCEL_REFUSED.format(done.member_id)
    await assert_still_completed(rewards_world, done)


async def test_a_cancellation_points_refuses_for_a_closure_not_read_yet_is_taken_back(
    rewards_world: RewardsWorld,
) -> None:
    done = await redeemed(rewards_world)
    await close_in_points(rewards_world, done.member_id)

    refused = await refusal_of(rewards_world.rewards.CancelRedemption(cancelling(done)))

    assert refused.details() == POINTS_REFUSED.format(done.member_id)
    await assert_still_completed(rewards_world, done)


class LastUnitTakenBeforeTheCredit(PointsClient):
    """Another redemption takes the unit the cancellation gave back before the points service is asked."""

    def __init__(self, target: str, rewards_world: RewardsWorld) -> None:
        super().__init__(target)
        self._pool = rewards_world.rewards_pool

    async def give_back(self, hold_id: str, key: str, reason: str) -> None:
        await self._pool.execute("UPDATE rewards SET stock_issued = stock_total")
        await super().give_back(hold_id, key, reason)


async def test_a_refused_cancellation_whose_unit_went_to_another_redemption_is_cancelled_giving_nothing_back(
    rewards_world: RewardsWorld,
) -> None:
    done = await redeemed(rewards_world, stock_total=1)
    await close_in_points(rewards_world, done.member_id)
    points = LastUnitTakenBeforeTheCredit(rewards_world.points_target, rewards_world)
    try:
        redemptions = RedemptionApplication(rewards_world.rewards_pool, points, OPTIONS)
        cancelled = await redemptions.cancel(done.redemption.redemption_id, "closing")
    finally:
        await points.close()

    # Taking the cancellation back would need a unit there is none of: it ends cancelled, the points forfeited.
    assert (cancelled.step, cancelled.cancelled_at is not None) == ("cancelled", True)
    check = await rewards_world.codes.ValidateCode(codes_pb2.ValidateCodeRequest(code=done.redemption.code))
    assert (check.usable, check.reason) == (False, "cancelled")
    envelope = await rewards_world.rewards_pool.fetchval(
        "SELECT envelope FROM outbox WHERE event_type = 'loyalty.events.v1.RedemptionCancelled'"
    )
    announced = reward_events.RedemptionCancelled()
    assert EventEnvelope.FromString(envelope).payload.Unpack(announced)
    assert (announced.member_id, announced.points_returned) == (done.member_id, 0)


async def test_the_recovery_job_takes_back_a_cancellation_left_cancelling_for_a_closed_member(
    rewards_world: RewardsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    done = await redeemed(rewards_world)
    unanswered = CreditUnanswered(rewards_world.points_target)
    try:
        cut_off = RedemptionApplication(rewards_world.rewards_pool, unanswered, OPTIONS)
        assert (await cut_off.cancel(done.redemption.redemption_id, "closing")).step == "cancelling"
    finally:
        await unanswered.close()
    await close_in_points(rewards_world, done.member_id)  # before the points service ever answered the credit
    points = PointsClient(rewards_world.points_target)
    try:
        redemptions = RedemptionApplication(rewards_world.rewards_pool, points, LEASE_OVER)
        with caplog.at_level(logging.WARNING, logger="services.rewards.redemption"):
            assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1
    finally:
        await points.close()

    await assert_still_completed(rewards_world, done)
    assert [r.getMessage() for r in caplog.records if r.name == "services.rewards.redemption"] == [
        "cancellation taken back: the points service refused to give the points back"
    ]


# -- redeeming --------------------------------------------------------------------------------------------


async def test_a_closed_member_cannot_redeem_a_reward_costing_no_points(
    rewards_world: RewardsWorld, close: Closing
) -> None:
    member_id = await rewards_world.member_with(100)
    free = await rewards_world.reward(cost_points=0, stock_total=5)
    paid = await rewards_world.reward(cost_points=10, stock_total=5)
    await close(member_id)

    listed = await rewards_world.catalog.ListRewards(catalog_pb2.ListRewardsRequest(member_id=member_id))
    assert (list(listed.rewards), listed.next_page_token) == ([], "")
    for reward in (free, paid):
        refused = await refusal_of(rewards_world.rewards.RedeemReward(redeeming(member_id, reward.reward_id)))
        assert refused.details() == REDEEM_REFUSED.format(member_id)
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT sum(stock_issued) FROM rewards") == 0
    assert await outbox_types(rewards_world) == []


async def test_the_recovery_job_undoes_a_free_redemption_of_a_member_closed_since_it_started(
    rewards_world: RewardsWorld, close: Closing
) -> None:
    member_id = await rewards_world.member_with(100)
    free = await rewards_world.reward(cost_points=0, stock_total=5)
    points = PointsClient(rewards_world.points_target)
    try:
        crashing = RedemptionApplication(rewards_world.rewards_pool, points, LEASE_OVER, before_capture=crash)
        with pytest.raises(Crash):
            await crashing.redeem(member_id, free.reward_id, "free")
        await close(member_id)  # no hold to refuse the closure: a free redemption holds no points
        redemptions = RedemptionApplication(rewards_world.rewards_pool, points, LEASE_OVER)
        assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1
    finally:
        await points.close()

    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM codes") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_issued FROM rewards") == 0
    assert await outbox_types(rewards_world) == []


# -- perks ------------------------------------------------------------------------------------------------


async def closed_in_view(rewards_world: RewardsWorld, member_id: str) -> None:
    """The closure as the member view keeps it (its consumer is tested in test_member_tiers)."""
    await rewards_world.rewards_pool.execute(
        "INSERT INTO member_closures (member_id, closed_at) VALUES ($1, now())", member_id
    )


async def test_the_birthday_job_passes_a_closed_member_by(rewards_world: RewardsWorld) -> None:
    await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_BIRTHDAY, name="Birthday treat"))
    for member_id in ("open-member", "closed-member"):
        await rewards_world.rewards_pool.execute(
            "INSERT INTO member_birthdays VALUES ($1, $2)", member_id, date(1990, 7, 14)
        )
    await closed_in_view(rewards_world, "closed-member")

    assert await BirthdayJob(rewards_world.rewards_pool).run_once(date(2027, 7, 14)) == 1

    assert [r.occasion for r in await perks_of(rewards_world, "open-member")] == [pb.OCCASION_BIRTHDAY]
    assert await perks_of(rewards_world, "closed-member") == []
    envelopes = await rewards_world.rewards_pool.fetch("SELECT message_key FROM outbox")
    assert [row["message_key"] for row in envelopes] == ["open-member"]


async def test_a_tier_reached_read_after_the_closure_grants_no_welcome_perk(
    rewards_world: RewardsWorld, producer: AIOKafkaProducer
) -> None:
    await rewards_world.reward(**perk(catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, trigger_tier="gold", name="Gold"))
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await closed_in_view(rewards_world, member_id)

    # Reached before the closure, read after it (a replay, or a consumer behind).
    reached = points_events.TierReached(member_id=member_id, tier="gold", previous_tier="silver")
    await perks_consumed(rewards_world, [await publish(producer, member_id, reached)])

    assert await perks_of(rewards_world, member_id) == []
    assert (
        await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM outbox WHERE message_key = $1", member_id) == 0
    )
