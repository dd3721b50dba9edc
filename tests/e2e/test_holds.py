"""Two-phase redemption and adjustments over gRPC, as a rewards service or an agent would use them."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import record_purchase_request
from tests.e2e.support import enroll, usd

pytestmark = pytest.mark.e2e


def hold_request(member_id: str, points: int, ttl_seconds: int = 600) -> pb.HoldPointsRequest:
    return pb.HoldPointsRequest(
        member_id=member_id, points=points, idempotency_key=str(uuid.uuid4()), ttl=Duration(seconds=ttl_seconds)
    )


async def balances(points: points_pb2_grpc.PointsServiceStub, member_id: str) -> tuple[int, int, int, int]:
    response = await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))
    return response.balance, response.available, response.pending, response.held


async def test_hold_then_capture_spends_and_hold_then_release_gives_back(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    member_id = await enroll(points)
    await points.RecordPurchase(record_purchase_request(member_id, usd(50000)))  # 1000 points

    first = await points.HoldPoints(hold_request(member_id, 400))
    assert first.hold.status == pb.HOLD_STATUS_HELD
    assert await balances(points, member_id) == (1000, 600, 0, 400)
    captured = await points.CaptureHold(pb.CaptureHoldRequest(hold_id=first.hold.hold_id))
    assert captured.hold.status == pb.HOLD_STATUS_CAPTURED
    assert (captured.entry.kind, captured.entry.points) == (pb.ENTRY_KIND_REDEMPTION, -400)

    second = await points.HoldPoints(hold_request(member_id, 100))
    released = await points.ReleaseHold(pb.ReleaseHoldRequest(hold_id=second.hold.hold_id))
    assert released.hold.status == pb.HOLD_STATUS_RELEASED
    assert await balances(points, member_id) == (600, 600, 0, 0)


async def test_an_uncaptured_hold_expires_and_frees_its_points(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    await points.RecordPurchase(record_purchase_request(member_id, usd(10000)))  # 200 points
    hold = (await points.HoldPoints(hold_request(member_id, 200, ttl_seconds=1))).hold
    await asyncio.sleep(1.5)
    assert await balances(points, member_id) == (200, 200, 0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.CaptureHold(pb.CaptureHoldRequest(hold_id=hold.hold_id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in raised.value.details()


async def test_holding_more_than_available_is_failed_precondition(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.HoldPoints(hold_request(member_id, 1))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == "points: 1 requested, 0 available"


async def test_a_hold_without_ttl_or_key_is_invalid_argument(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.HoldPoints(pb.HoldPointsRequest(member_id=member_id, points=5))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == (
        "idempotency_key: is required, at most 128 characters; ttl: is required: between 1 second and 30 days"
    )


async def test_goodwill_adjustment_applies_once(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    request = pb.AdjustPointsRequest(
        member_id=member_id,
        points=300,
        reason="goodwill: lost luggage",
        actor="agent-42",
        idempotency_key=f"goodwill-{member_id}",
    )
    first = await points.AdjustPoints(request)
    again = await points.AdjustPoints(request)
    assert (first.duplicate, again.duplicate, again.entry.entry_id) == (False, True, first.entry.entry_id)
    assert first.entry.kind == pb.ENTRY_KIND_ADJUSTMENT
    assert await balances(points, member_id) == (300, 300, 0, 0)
