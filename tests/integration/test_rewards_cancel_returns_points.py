"""CancelRedemption gives the points back as they were: with the expiry they had, not as never-expiring points, and
not earned again; a cancellation whose points an AdjustPoints call already gave back is not paid twice."""

from __future__ import annotations

import uuid

from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.events import timestamp
from services.points.domain import utc_now
from services.points.program_application import ProgramApplication
from tests.integration.rewards_support import RewardsWorld
from tests.integration.test_rewards_redemption import redeem

# The tester's program: 10 points per USD, expiring a month after they are earned.
MONTH_TERM = (
    "id: month\nname: Month\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 10}}\nexpiry: {months_after_earning: 1}\n"
)


async def buyer_of_1000_points(world: RewardsWorld) -> str:
    """A member who bought for 100 USD under MONTH_TERM: 1000 points expiring in a month."""
    await ProgramApplication(world.points_pool).apply(MONTH_TERM)
    member_id = f"m-{uuid.uuid4().hex[:12]}"
    await world.points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id))
    await world.points.RecordPurchase(
        points_pb2.RecordPurchaseRequest(
            purchase_id=f"p-{uuid.uuid4().hex[:8]}",
            member_id=member_id,
            amount=Money(amount_minor=10000, currency_code="USD"),
            occurred_at=timestamp(utc_now()),
        )
    )
    return member_id


async def expiring(world: RewardsWorld, member_id: str) -> list[tuple[object, int]]:
    schedule = await world.points.GetPointsSchedule(points_pb2.GetPointsScheduleRequest(member_id=member_id))
    return [(due.expires_at.ToDatetime(), due.points) for due in schedule.expiring]


async def cancel(world: RewardsWorld, redemption_id: str) -> pb.Redemption:
    request = pb.CancelRedemptionRequest(redemption_id=redemption_id, reason="changed my mind")
    return (await world.rewards.CancelRedemption(request)).redemption


async def test_a_cancelled_redemption_gives_back_the_points_with_their_expiry(rewards_world: RewardsWorld) -> None:
    member_id = await buyer_of_1000_points(rewards_world)
    before = await expiring(rewards_world, member_id)
    assert [points for _, points in before] == [1000]
    reward = await rewards_world.reward(cost_points=1000)
    done = (await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))).redemption
    assert await expiring(rewards_world, member_id) == []

    assert (await cancel(rewards_world, done.redemption_id)).status == pb.REDEMPTION_STATUS_CANCELLED

    assert await expiring(rewards_world, member_id) == before
    balance = await rewards_world.balance(member_id)
    assert (balance.available, balance.lifetime_earned) == (1000, 1000)
    entries = await rewards_world.points.ListLedgerEntries(points_pb2.ListLedgerEntriesRequest(member_id=member_id))
    returned = entries.entries[0]
    assert (returned.kind, returned.points) == (points_pb2.ENTRY_KIND_REDEMPTION_RETURN, 1000)
    assert returned.description == f"cancelled redemption {done.redemption_id}: changed my mind (by rewards-service)"


async def test_a_cancellation_given_back_by_adjust_points_before_the_upgrade_is_not_given_back_again(
    rewards_world: RewardsWorld,
) -> None:
    member_id = await buyer_of_1000_points(rewards_world)
    reward = await rewards_world.reward(cost_points=1000)
    done = (await rewards_world.rewards.RedeemReward(redeem(member_id, reward.reward_id))).redemption
    # What the rewards service did before ReturnCapturedHold, as if its answer had been lost.
    await rewards_world.points.AdjustPoints(
        points_pb2.AdjustPointsRequest(
            member_id=member_id,
            points=1000,
            reason=f"cancelled redemption {done.redemption_id}: changed my mind",
            actor="rewards-service",
            idempotency_key=f"cancel:{done.redemption_id}",
        )
    )

    assert (await cancel(rewards_world, done.redemption_id)).status == pb.REDEMPTION_STATUS_CANCELLED

    assert (await rewards_world.balance(member_id)).balance == 1000
