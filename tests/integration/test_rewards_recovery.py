"""Crashes between the steps of a redemption, and the recovery job that finishes or undoes them.

A crash is simulated in-process: the fault hook the service calls just
before capturing raises, leaving the redemption exactly where a killed
process would leave it (points held, stock taken, code issued, nothing
captured). The e2e fault test kills the real process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta

import asyncpg
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2
from loyalty.rewards.v1 import rewards_pb2 as pb

from services.common.errors import Aborted, FailedPrecondition, ResourceExhausted, Unavailable
from services.rewards.points_client import Hold, PointsClient
from services.rewards.recovery import RecoveryJob
from services.rewards.redemption import RedemptionApplication, hold_key
from services.rewards.redemption_store import RedemptionRow
from services.rewards.settings import RewardsSettings
from tests.integration.rewards_support import OPTIONS, RewardsWorld

LEASE_OVER = replace(OPTIONS, lease=timedelta(0))


class Crash(BaseException):
    """Stands for the process dying at the fault point: not an Exception, as SystemExit is not, so the call does not
    take it for an error it outlives and gives its lease up after (a process that dies gives nothing up)."""


def crash() -> None:
    raise Crash


@pytest.fixture
async def points_client(rewards_world: RewardsWorld) -> AsyncIterator[PointsClient]:
    client = PointsClient(rewards_world.points_target)
    yield client
    await client.close()


async def crashed_before_capture(
    rewards_world: RewardsWorld, points: PointsClient, options: RewardsSettings = LEASE_OVER, key: str = "k"
) -> str:
    """The member of a redemption left between hold and capture."""
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=1)
    crashing = RedemptionApplication(rewards_world.rewards_pool, points, options, before_capture=crash)
    with pytest.raises(Crash):
        await crashing.redeem(member_id, reward.reward_id, key)
    balance = await rewards_world.balance(member_id)
    assert (balance.available, balance.held) == (200, 100)
    assert await rewards_world.rewards_pool.fetchval("SELECT step FROM redemptions") == "reserved"
    return member_id


async def test_recovery_captures_a_redemption_left_between_hold_and_capture(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    member_id = await crashed_before_capture(rewards_world, points_client)
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER)

    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1

    listed = await rewards_world.rewards.ListRedemptions(pb.ListRedemptionsRequest(member_id=member_id))
    assert [(r.status, len(r.code) > 0) for r in listed.redemptions] == [(pb.REDEMPTION_STATUS_COMPLETED, True)]
    balance = await rewards_world.balance(member_id)
    assert (balance.balance, balance.available, balance.held) == (200, 200, 0)
    assert await rewards_world.holds("captured") == 1


async def test_recovery_undoes_a_redemption_whose_hold_expired(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    short_hold = replace(LEASE_OVER, hold_ttl=timedelta(seconds=1))
    member_id = await crashed_before_capture(rewards_world, points_client, short_hold)
    await asyncio.sleep(1.5)  # the hold expires by itself
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, short_hold)

    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, short_hold.lease).run_once() == 1

    balance = await rewards_world.balance(member_id)
    assert (balance.balance, balance.available, balance.held) == (300, 300, 0)
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM codes") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_recovery_leaves_redemptions_whose_lease_still_runs(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    await crashed_before_capture(rewards_world, points_client, OPTIONS)
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, OPTIONS)
    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, OPTIONS.lease).run_once() == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT step FROM redemptions") == "reserved"


async def test_recovery_picks_up_a_hold_placed_before_the_crash_recorded_it(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    """The process died after HoldPoints answered and before the row recorded the hold."""
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward()
    redemption_id = uuid.uuid4()
    await rewards_world.rewards_pool.execute(
        """INSERT INTO redemptions (redemption_id, member_id, reward_id, idempotency_key, occasion, points, step,
                                    lease_until, created_at, reward_name, kind, amount_minor, currency_code,
                                    percent_off, sku, partner)
           SELECT $1, $2, reward_id, 'k', 'redeemed', 100, 'pending', now(), now(), name, kind, amount_minor,
                  currency_code, percent_off, sku, partner
             FROM rewards WHERE reward_id = $3""",
        redemption_id,
        member_id,
        uuid.UUID(reward.reward_id),
    )
    await rewards_world.points.HoldPoints(
        points_pb2.HoldPointsRequest(
            member_id=member_id, points=100, idempotency_key=hold_key(redemption_id), ttl=Duration(seconds=600)
        )
    )
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER)

    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1

    redemption = (
        await rewards_world.rewards.GetRedemption(pb.GetRedemptionRequest(redemption_id=str(redemption_id)))
    ).redemption
    assert redemption.status == pb.REDEMPTION_STATUS_COMPLETED
    assert (await rewards_world.balance(member_id)).balance == 200
    assert await rewards_world.holds("captured") == 1  # the hold placed before the crash, not a second one


class RefusesTheFirst(RedemptionApplication):
    """The database refuses a value while carrying on the first redemption asked for."""

    refused: uuid.UUID | None = None

    async def advance(self, redemption_id: uuid.UUID) -> RedemptionRow:
        if self.refused in (None, redemption_id):
            self.refused = redemption_id
            raise asyncpg.exceptions.CheckViolationError("new row violates check constraint")
        return await super().advance(redemption_id)


async def test_a_redemption_the_database_refuses_does_not_hold_up_the_rest_of_the_batch(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    members = [await crashed_before_capture(rewards_world, points_client, LEASE_OVER, key) for key in ("k1", "k2")]
    redemptions = RefusesTheFirst(rewards_world.rewards_pool, points_client, LEASE_OVER)

    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 2

    steps = await rewards_world.rewards_pool.fetch("SELECT member_id, step FROM redemptions ORDER BY step")
    assert sorted(row["step"] for row in steps) == ["completed", "reserved"]
    assert {row["member_id"] for row in steps} == set(members)


class HoldAnsweredLate(PointsClient):
    """HoldPoints is answered (held, or refused), and the caller acts on the answer only once `go` is set."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.answered = asyncio.Event()
        self.go = asyncio.Event()

    async def hold(self, member_id: str, points: int, key: str, ttl: timedelta, description: str) -> Hold:
        try:
            return await super().hold(member_id, points, key, ttl, description)
        finally:
            self.answered.set()
            await self.go.wait()


class CapturesSlowly(PointsClient):
    """CaptureHold goes through, and the caller carries on only once `go` is set."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.captured = asyncio.Event()
        self.go = asyncio.Event()

    async def capture(self, hold_id: str) -> None:
        await super().capture(hold_id)
        self.captured.set()
        await self.go.wait()


@dataclass
class LateRefusal:
    """A call redeeming a 100-point reward for a member with 50 points: HoldPoints refused it, and the call
    acts on the refusal only once `refusal.go` is set. Its lease is over: `recovery` may carry it on meanwhile."""

    member_id: str
    refusal: HoldAnsweredLate
    call: asyncio.Task[tuple[RedemptionRow, bool]]
    recovery: RedemptionApplication

    async def recover(self, pool: asyncpg.Pool) -> object:
        return await RecoveryJob(pool, self.recovery, LEASE_OVER.lease).run_once()


@asynccontextmanager
async def refused_late(rewards_world: RewardsWorld, recovery_points: PointsClient) -> AsyncIterator[LateRefusal]:
    member_id = await rewards_world.member_with(50)
    reward = await rewards_world.reward(stock_total=1)
    refusal = HoldAnsweredLate(rewards_world.points_target)
    original = RedemptionApplication(rewards_world.rewards_pool, refusal, LEASE_OVER)
    try:
        call = asyncio.create_task(original.redeem(member_id, reward.reward_id, "key"))
        await refusal.answered.wait()
        yield LateRefusal(
            member_id, refusal, call, RedemptionApplication(rewards_world.rewards_pool, recovery_points, LEASE_OVER)
        )
    finally:
        await refusal.close()


async def test_a_call_acting_on_a_stale_refusal_follows_the_redemption_the_recovery_carried_on(
    rewards_world: RewardsWorld,
) -> None:
    slow_capture = CapturesSlowly(rewards_world.points_target)
    try:
        async with refused_late(rewards_world, slow_capture) as late:
            # Meanwhile the member earns points and the recovery job carries the redemption on.
            more = points_pb2.AdjustPointsRequest(
                member_id=late.member_id, points=250, reason="earned since", actor="test", idempotency_key="more"
            )
            await rewards_world.points.AdjustPoints(more)
            recovering = asyncio.create_task(late.recover(rewards_world.rewards_pool))
            await slow_capture.captured.wait()
            late.refusal.go.set()  # the call acts on its refusal now, with a copy of the row from before
            slow_capture.go.set()
            (redeemed, _), _ = await asyncio.gather(late.call, recovering)
    finally:
        await slow_capture.close()
    assert redeemed.step == "completed" and redeemed.code
    balance = await rewards_world.balance(late.member_id)
    assert (balance.available, balance.held) == (200, 0)  # 50 + 250, less the 100 spent once
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM codes") == 1


async def test_a_call_whose_redemption_the_recovery_undid_meanwhile_gives_its_own_refusal(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    async with refused_late(rewards_world, points_client) as late:
        await late.recover(rewards_world.rewards_pool)  # refused too (not enough points): undone
        assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
        late.refusal.go.set()
        with pytest.raises(FailedPrecondition, match="not enough points"):
            await late.call


async def test_a_call_whose_redemption_the_recovery_refused_and_undid_meanwhile_is_aborted_not_unknown(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=1)
    late = HoldAnsweredLate(rewards_world.points_target)
    try:
        slow = RedemptionApplication(rewards_world.rewards_pool, late, LEASE_OVER)
        call = asyncio.create_task(slow.redeem(member_id, reward.reward_id, "key"))
        await late.answered.wait()
        first = await rewards_world.member_with(300)  # takes the last unit while the call waits for its hold
        await RedemptionApplication(rewards_world.rewards_pool, points_client, OPTIONS).redeem(
            first, reward.reward_id, "first"
        )
        recovery = RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER)
        await RecoveryJob(rewards_world.rewards_pool, recovery, LEASE_OVER.lease).run_once()  # out of stock: undone
        late.go.set()
        # Why is not kept: the call cannot say it, and must not say NOT_FOUND (an unknown reward or member).
        with pytest.raises(Aborted, match="call again with the same idempotency_key"):
            await call
    finally:
        await late.close()
    with pytest.raises(ResourceExhausted):  # the same key again: redeemed anew, and told why
        await RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER).redeem(
            member_id, reward.reward_id, "key"
        )
    balance = await rewards_world.balance(member_id)
    assert (balance.available, balance.held) == (300, 0)


class CreditUnanswered(PointsClient):
    """A points service that does not answer the call giving a cancelled redemption's points back."""

    async def give_back(self, hold_id: str, key: str, reason: str) -> None:
        raise Unavailable("points service: UNAVAILABLE")


async def test_a_cancellation_whose_credit_is_not_answered_is_cancelling_and_the_recovery_gives_the_points_back(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=1)
    unanswered = CreditUnanswered(rewards_world.points_target)
    try:
        cut_off = RedemptionApplication(rewards_world.rewards_pool, unanswered, OPTIONS)
        done, _ = await cut_off.redeem(member_id, reward.reward_id, "cancel-me")
        # Written, so not UNAVAILABLE ("nothing was written, retry"): the code is void and the stock back.
        assert (await cut_off.cancel(done.redemption_id, "changed my mind")).step == "cancelling"
    finally:
        await unanswered.close()
    assert (await rewards_world.balance(member_id)).available == 200
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER)
    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1
    assert (await redemptions.get(done.redemption_id)).step == "cancelled"
    assert (await rewards_world.balance(member_id)).available == 300


class LastUnitTakenAndReleaseUnanswered(PointsClient):
    """Another redemption takes the last unit while this one's hold is placed; ReleaseHold is not answered."""

    def __init__(self, target: str, pool: asyncpg.Pool) -> None:
        super().__init__(target)
        self._pool = pool

    async def hold(self, member_id: str, points: int, key: str, ttl: timedelta, description: str) -> Hold:
        hold = await super().hold(member_id, points, key, ttl, description)
        await self._pool.execute("UPDATE rewards SET stock_issued = stock_total")
        return hold

    async def release(self, hold_id: str) -> None:
        raise Unavailable("points service: UNAVAILABLE")


async def test_a_refused_redemption_whose_release_is_not_answered_is_released_by_the_recovery_job(
    rewards_world: RewardsWorld, points_client: PointsClient
) -> None:
    """The row is deleted only after the release is answered: until then the recovery job carries it on."""
    member_id = await rewards_world.member_with(300)
    reward = await rewards_world.reward(stock_total=1)
    unanswered = LastUnitTakenAndReleaseUnanswered(rewards_world.points_target, rewards_world.rewards_pool)
    try:
        with pytest.raises(Unavailable):
            await RedemptionApplication(rewards_world.rewards_pool, unanswered, OPTIONS).redeem(
                member_id, reward.reward_id, "k"
            )
    finally:
        await unanswered.close()
    assert await rewards_world.rewards_pool.fetchval("SELECT step FROM redemptions") == "held"
    redemptions = RedemptionApplication(rewards_world.rewards_pool, points_client, LEASE_OVER)

    assert await RecoveryJob(rewards_world.rewards_pool, redemptions, LEASE_OVER.lease).run_once() == 1

    balance = await rewards_world.balance(member_id)
    assert (balance.available, balance.held) == (300, 0)
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
