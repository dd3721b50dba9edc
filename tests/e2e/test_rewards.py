"""Rewards driven through gRPC on the whole platform: flash sale, code reuse, refusals, tier perks, a crash.

The platform runs the hotel program (tiers by points) and a one-second
recovery lease, so a redemption the rewards process left behind is taken up
again soon after it restarts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from loyalty.common.v1.common_pb2 import LineItem, Money
from loyalty.events.v1 import rewards_pb2 as reward_events
from loyalty.points.v1 import points_pb2, points_pb2_grpc, program_pb2, program_pb2_grpc
from loyalty.rewards.v1 import catalog_pb2, catalog_pb2_grpc, codes_pb2, codes_pb2_grpc, rewards_pb2, rewards_pb2_grpc

from services.client import record_purchase_request
from services.common.events import decode
from services.common.kafka import REWARDS_EVENTS_TOPIC
from services.dev import Platform
from tests.e2e.conftest import running_platform
from tests.e2e.support import enroll, eventually, read_topic
from tests.integration.rewards_support import reward_spec

pytestmark = pytest.mark.e2e

HOTEL = Path(__file__).resolve().parents[2] / "examples" / "programs" / "hotel.yaml"
FAST_JOBS = {
    "LOYALTY_REWARDS_LEASE_S": "1",
    "LOYALTY_REWARDS_RECOVERY_INTERVAL_S": "1",
    "LOYALTY_REWARDS_BIRTHDAY_INTERVAL_S": "1",
}
FAULT = "LOYALTY_REWARDS_FAULT_EXIT_BEFORE_CAPTURE"


@dataclass
class Clients:
    platform: Platform
    points: points_pb2_grpc.PointsServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    rewards: rewards_pb2_grpc.RewardsServiceStub
    codes: codes_pb2_grpc.CodesServiceStub

    async def member_with(self, points: int) -> str:
        member_id = await enroll(self.points)
        await self.points.AdjustPoints(
            points_pb2.AdjustPointsRequest(
                member_id=member_id, points=points, reason="welcome credit", actor="e2e", idempotency_key=member_id
            )
        )
        return member_id

    async def balance(self, member_id: str) -> tuple[int, int]:
        """(available, held)."""
        response = await self.points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id))
        return response.available, response.held

    async def reward(self, **fields: object) -> catalog_pb2.Reward:
        return (await self.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=reward_spec(**fields)))).reward

    async def redeem(self, member_id: str, reward_id: str, key: str | None = None) -> rewards_pb2.Redemption:
        request = rewards_pb2.RedeemRewardRequest(
            member_id=member_id, reward_id=reward_id, idempotency_key=key or uuid.uuid4().hex
        )
        return (await self.rewards.RedeemReward(request, timeout=30)).redemption

    async def redemptions(self, member_id: str) -> list[rewards_pb2.Redemption]:
        request = rewards_pb2.ListRedemptionsRequest(member_id=member_id)
        return list((await self.rewards.ListRedemptions(request)).redemptions)


@pytest.fixture(scope="module")
async def clients(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Clients]:
    async with (
        running_platform(tmp_path_factory, postgres_admin_url, FAST_JOBS) as platform,
        grpc.aio.insecure_channel(platform.grpc_address("points")) as points_channel,
        grpc.aio.insecure_channel(platform.grpc_address("rewards")) as channel,
    ):
        applied = await program_pb2_grpc.ProgramServiceStub(points_channel).ApplyProgram(
            program_pb2.ApplyProgramRequest(definition=HOTEL.read_text())
        )
        assert applied.outcome == program_pb2.APPLY_OUTCOME_CREATED
        yield Clients(
            platform,
            points_pb2_grpc.PointsServiceStub(points_channel),
            catalog_pb2_grpc.CatalogServiceStub(channel),
            rewards_pb2_grpc.RewardsServiceStub(channel),
            codes_pb2_grpc.CodesServiceStub(channel),
        )


async def test_flash_sale_200_members_10_units(clients: Clients) -> None:
    reward = await clients.reward(name="Flash sale", stock_total=10)
    members = await asyncio.gather(*(clients.member_with(500) for _ in range(200)))

    async def attempt(member_id: str) -> grpc.StatusCode:
        key = uuid.uuid4().hex
        while True:
            try:
                await clients.redeem(member_id, reward.reward_id, key)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.ABORTED:  # slower than its lease: as a client does, again
                    continue
                return error.code()
            return grpc.StatusCode.OK

    outcomes = Counter(await asyncio.gather(*(attempt(m) for m in members)))

    assert outcomes == {grpc.StatusCode.OK: 10, grpc.StatusCode.RESOURCE_EXHAUSTED: 190}
    balances = Counter(await asyncio.gather(*(clients.balance(m) for m in members)))
    assert balances == {(400, 0): 10, (500, 0): 190}  # 10 holds captured, every other one released


async def test_a_code_is_used_once_and_the_reuse_names_the_order(clients: Clients) -> None:
    member_id = await clients.member_with(100)
    redemption = await clients.redeem(member_id, (await clients.reward()).reward_id)
    await clients.codes.RedeemCode(codes_pb2.RedeemCodeRequest(code=redemption.code, order_id="checkout-1"))
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await clients.codes.RedeemCode(codes_pb2.RedeemCodeRequest(code=redemption.code, order_id="checkout-2"))
    assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "checkout-1" in (reused.value.details() or "")

    def announced(records: list[object]) -> bool:
        return {"RewardRedeemed", "CodeUsed"} <= _types_about(records, member_id)

    records = await read_topic(clients.platform.kafka_bootstrap, REWARDS_EVENTS_TOPIC, announced)
    assert announced(records)


async def test_a_member_without_enough_points_is_refused_and_keeps_them(clients: Clients) -> None:
    member_id = await clients.member_with(99)
    reward = await clients.reward(stock_total=1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clients.redeem(member_id, reward.reward_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not enough points" in (refused.value.details() or "")
    assert await clients.balance(member_id) == (99, 0)
    assert await clients.redemptions(member_id) == []


async def test_tiers_reached_by_purchases_grant_their_perks_once(clients: Clients) -> None:
    perk = {"trigger": catalog_pb2.REWARD_TRIGGER_TIER_WELCOME, "cost_points": 0}
    silver = await clients.reward(name="Silver welcome", trigger_tier="silver", **perk)
    gold = await clients.reward(name="Gold welcome", trigger_tier="gold", **perk)
    member_id = await enroll(clients.points)

    await clients.points.RecordPurchase(_room_nights(member_id, 2000))  # 20,000 points: silver
    await clients.points.RecordPurchase(_room_nights(member_id, 100))  # still silver
    await clients.points.RecordPurchase(_room_nights(member_id, 3000))  # past 50,000: gold

    granted = await eventually(
        lambda: clients.redemptions(member_id), lambda perks: len(perks) >= 2, "both welcome perks"
    )
    assert sorted(p.reward_id for p in granted) == sorted([silver.reward_id, gold.reward_id])
    assert all(p.points == 0 and p.code and p.occasion == rewards_pb2.OCCASION_TIER_WELCOME for p in granted)


async def test_a_birthday_given_at_enrolment_grants_the_birthday_reward_once(clients: Clients) -> None:
    reward = await clients.reward(name="Birthday cake", trigger=catalog_pb2.REWARD_TRIGGER_BIRTHDAY, cost_points=0)
    today = datetime.now(UTC).date()
    born = today.replace(year=2000)  # a leap year: 29 February is a birthday too
    member_id = f"e2e-{uuid.uuid4().hex[:12]}"
    await clients.points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id, birth_date=born.isoformat()))

    granted = await eventually(lambda: clients.redemptions(member_id), lambda found: len(found) >= 1, "birthday reward")
    await asyncio.sleep(2)  # the birthday job runs every second: it must not grant it again
    assert [(r.reward_id, r.occasion) for r in await clients.redemptions(member_id)] == [
        (reward.reward_id, rewards_pb2.OCCASION_BIRTHDAY)
    ]
    assert granted[0].points == 0 and granted[0].code


async def test_killed_between_hold_and_capture_the_redemption_completes_after_restart(clients: Clients) -> None:
    platform = clients.platform
    reward = await clients.reward(name="Crash test", stock_total=5)
    member_id = await clients.member_with(500)
    await _restart_rewards(platform, {FAULT: "true"})
    try:
        with pytest.raises(grpc.aio.AioRpcError):
            await clients.redeem(member_id, reward.reward_id, key="crash-1")
        assert await platform.kill_service("rewards") is not None  # it had exited on its own
        assert await clients.balance(member_id) == (400, 100)  # held, not captured
    finally:
        await _restart_rewards(platform, {})

    redemptions = await eventually(
        lambda: clients.redemptions(member_id),
        lambda found: [r.status for r in found] == [rewards_pb2.REDEMPTION_STATUS_COMPLETED],
        "the recovered redemption",
    )
    assert await clients.balance(member_id) == (400, 0)
    again = await clients.redeem(member_id, reward.reward_id, key="crash-1")
    assert (again.redemption_id, again.code) == (redemptions[0].redemption_id, redemptions[0].code)
    stock = (await clients.catalog.GetReward(catalog_pb2.GetRewardRequest(reward_id=reward.reward_id))).reward
    assert stock.stock_available == 4


async def _restart_rewards(platform: Platform, fault: dict[str, str]) -> None:
    await platform.stop_service("rewards")
    platform.extra_env.pop(FAULT, None)
    platform.extra_env.update(fault)
    await platform.start_service("rewards")


def _room_nights(member_id: str, dollars: int) -> points_pb2.RecordPurchaseRequest:
    amount = Money(amount_minor=dollars * 100, currency_code="USD")
    request = record_purchase_request(member_id, amount)
    request.line_items.append(LineItem(sku="KING-NIGHT", category="room", quantity=1, unit_price=amount))
    return request


def _types_about(records: list[object], member_id: str) -> set[str]:
    types = set()
    for record in records:
        envelope, payload = decode(record.value, list(record.headers or ()))  # type: ignore[attr-defined]
        if envelope.subject == member_id and isinstance(payload, reward_events.RewardRedeemed | reward_events.CodeUsed):
            types.add(envelope.type.rsplit(".", 1)[1])
    return types


async def test_a_sigkill_during_a_rush_leaves_no_points_taken_without_a_reward(clients: Clients) -> None:
    """Kill -9 while redemptions are in flight; after the restart every member's points match its rewards."""
    platform = clients.platform
    reward = await clients.reward(name="Rush", stock_total=40)
    members = await asyncio.gather(*(clients.member_with(300) for _ in range(60)))
    first_done = asyncio.Event()

    async def attempt(member_id: str) -> None:
        try:
            await clients.redeem(member_id, reward.reward_id, key=f"rush-{member_id}")
            first_done.set()
        except grpc.aio.AioRpcError:
            pass  # refused, or cut off by the kill: the retry below learns which

    attempts = [asyncio.create_task(attempt(m)) for m in members]
    await first_done.wait()
    await platform.kill_service("rewards")
    await asyncio.gather(*attempts)
    await platform.start_service("rewards")
    # Callers cut off retry with the same key, as a client should after UNAVAILABLE.
    await asyncio.gather(*(attempt(m) for m in members))

    async def settled() -> list[tuple[int, int, int]]:
        """(available, held, completed redemptions) per member; held is -1 while one is still pending."""
        states = []
        for member_id in members:
            statuses = [r.status for r in await clients.redemptions(member_id)]
            available, held = await clients.balance(member_id)
            pending = rewards_pb2.REDEMPTION_STATUS_PENDING in statuses
            states.append((available, -1 if pending else held, statuses.count(rewards_pb2.REDEMPTION_STATUS_COMPLETED)))
        return states

    states = await eventually(settled, lambda found: all(held == 0 for _, held, _ in found), "every redemption settled")
    assert all(available == 300 - 100 * completed for available, _, completed in states)
    assert all(completed <= 1 for _, _, completed in states)
    stock = (await clients.catalog.GetReward(catalog_pb2.GetRewardRequest(reward_id=reward.reward_id))).reward
    assert stock.stock_available == 40 - sum(completed for _, _, completed in states)
    assert sum(completed for _, _, completed in states) == 40  # the retries used up the stock
