"""CloseMember over gRPC: the answer, what a closed member is refused, validation naming each field, and a
redemption for a closed member refused cleanly by the rewards service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc
from loyalty.rewards.v1 import rewards_pb2

from services.common.events import timestamp
from services.points.program_application import ProgramApplication
from tests.integration.rewards_support import RewardsWorld
from tests.integration.support import field_violations, run_cli

PROGRAM = """
id: closing-club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
pending:
  days: 30
bonuses:
  activities:
    - {id: review, points: 50}
"""


@pytest.fixture
def points(channel: grpc.aio.Channel) -> points_pb2_grpc.PointsServiceStub:
    return points_pb2_grpc.PointsServiceStub(channel)


def close(member_id: str, reason: str = "member request", actor: str = "agent-7") -> pb.CloseMemberRequest:
    return pb.CloseMemberRequest(member_id=member_id, reason=reason, actor=actor)


async def refusal(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    return refused.value


async def enrolled_with(points: points_pb2_grpc.PointsServiceStub, credit: int, purchase_usd: int) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    await points.AdjustPoints(
        pb.AdjustPointsRequest(member_id=member_id, points=credit, reason="gift", actor="a", idempotency_key=member_id)
    )
    await points.RecordPurchase(purchase(member_id, purchase_usd))
    return member_id


def purchase(member_id: str, whole_usd: int) -> pb.RecordPurchaseRequest:
    return pb.RecordPurchaseRequest(
        purchase_id=f"order-{uuid.uuid4().hex[:8]}",
        member_id=member_id,
        amount=Money(amount_minor=whole_usd * 100, currency_code="USD"),
        occurred_at=timestamp(datetime.now(UTC) - timedelta(minutes=1)),
    )


async def test_closing_answers_the_closed_member_and_what_it_forfeited(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool
) -> None:
    await ProgramApplication(pool).apply(PROGRAM)
    member_id = await enrolled_with(points, 120, 20)  # 120 available, 200 pending

    closed = await points.CloseMember(close(member_id))
    again = await points.CloseMember(close(member_id, reason="another"))

    assert (closed.member.status, closed.points_forfeited, closed.duplicate) == (pb.MEMBER_STATUS_CLOSED, 320, False)
    assert closed.ledger_entry_id and closed.HasField("closed_at")
    assert (again.duplicate, again.points_forfeited, again.ledger_entry_id) == (True, 320, closed.ledger_entry_id)
    assert again.closed_at == closed.closed_at
    shown = (await points.GetMember(pb.GetMemberRequest(member_id=member_id))).member
    assert shown == closed.member
    balance = await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))
    assert (balance.balance, balance.available, balance.pending, balance.lifetime_earned) == (0, 0, 0, 320)


async def test_a_closed_member_is_refused_purchases_activities_holds_and_adjustments(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool
) -> None:
    await ProgramApplication(pool).apply(PROGRAM)
    member_id = await enrolled_with(points, 100, 0)
    await points.CloseMember(close(member_id))
    now = timestamp(datetime.now(UTC))
    calls = [
        points.RecordPurchase(purchase(member_id, 10)),
        points.RecordActivity(
            pb.RecordActivityRequest(member_id=member_id, activity_id="review", idempotency_key="k1", occurred_at=now)
        ),
        points.HoldPoints(
            pb.HoldPointsRequest(member_id=member_id, points=1, idempotency_key="h1", ttl=Duration(seconds=60))
        ),
        points.AdjustPoints(
            pb.AdjustPointsRequest(member_id=member_id, points=5, reason="gift", actor="a", idempotency_key="k2")
        ),
    ]
    for call in calls:
        refused = await refusal(call)
        assert (refused.code(), refused.details()) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            f"member_id: member {member_id!r} is closed",
        )
    assert (await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))).balance == 0


async def test_an_open_hold_refuses_the_closure_over_grpc(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enrolled_with(points, 100, 0)
    await points.HoldPoints(
        pb.HoldPointsRequest(member_id=member_id, points=10, idempotency_key=member_id, ttl=Duration(seconds=600))
    )
    refused = await refusal(points.CloseMember(close(member_id)))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (refused.details() or "").startswith(f"member_id: member {member_id!r} has an open hold")
    member = (await points.GetMember(pb.GetMemberRequest(member_id=member_id))).member
    assert member.status == pb.MEMBER_STATUS_ACTIVE


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (close("m-1", reason=""), "reason"),
        (close("m-1", reason="   "), "reason"),
        (close("m-1", reason="two\nlines"), "reason"),
        (close("m-1", actor=""), "actor"),
        (close(""), "member_id"),
        (close("not a member id!"), "member_id"),
    ],
)
async def test_invalid_closures_are_refused_naming_the_field(
    points: points_pb2_grpc.PointsServiceStub, request_: pb.CloseMemberRequest, field: str
) -> None:
    refused = await refusal(points.CloseMember(request_))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(refused)) == [field]


async def test_closing_an_unknown_member_is_not_found(points: points_pb2_grpc.PointsServiceStub) -> None:
    refused = await refusal(points.CloseMember(close("nobody")))
    assert (refused.code(), refused.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "member_id: member 'nobody' is not enrolled",
    )


async def test_a_redemption_for_a_closed_member_is_refused_naming_the_member(rewards_world: RewardsWorld) -> None:
    member_id = await rewards_world.member_with(500)
    reward = await rewards_world.reward(stock_total=1)
    await rewards_world.points.CloseMember(close(member_id))
    redeem = rewards_pb2.RedeemRewardRequest(member_id=member_id, reward_id=reward.reward_id, idempotency_key="r1")
    refused = await refusal(rewards_world.rewards.RedeemReward(redeem))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Said as the points service said it: not "not enough points", which the member may well have had.
    assert refused.details() == f"member_id: member {member_id!r} is closed"
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM redemptions") == 0
    assert await rewards_world.rewards_pool.fetchval("SELECT stock_available FROM rewards") == 1


async def test_the_cli_closes_a_member_saying_what_was_forfeited_and_the_balance_shows_it_closed(
    points: points_pb2_grpc.PointsServiceStub,
    points_address: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    member_id = await enrolled_with(points, 75, 0)
    assert await run_cli("close", member_id, "--reason", "erasure request", "--actor", "dpo") == 0
    assert await run_cli("close", member_id, "--reason", "erasure request") == 0
    assert await run_cli("balance", member_id) == 0
    closed, again, balance = capsys.readouterr().out.splitlines()[:3]
    assert closed.startswith(f"{member_id} closed at ") and "UTC: 75 points forfeited (ledger entry " in closed
    assert again.startswith(f"{member_id} was already closed at ") and "(75 points forfeited then)" in again
    assert balance.startswith(f"{member_id} (closed): 0 points: 0 available")
