"""Refunds over gRPC and as PurchaseRefunded events take back what the purchase earned, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.events.v1 import commerce_pb2
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import record_purchase_request
from services.common.events import kafka_headers, new_envelope, timestamp
from tests.e2e.support import balance, enroll, eventually, publish, usd

pytestmark = pytest.mark.e2e


def refund_request(purchase_id: str, amount_minor: int, refund_id: str | None = None) -> pb.RefundPurchaseRequest:
    return pb.RefundPurchaseRequest(
        refund_id=refund_id or str(uuid.uuid4()),
        purchase_id=purchase_id,
        amount=usd(amount_minor),
        occurred_at=timestamp(datetime.now(UTC)),
    )


async def test_a_partial_refund_over_grpc_takes_back_its_share_once(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    purchase = await points.RecordPurchase(record_purchase_request(member_id, usd(10000)))  # 200 points
    purchase_id = purchase.entry.idempotency_key.removeprefix("purchase:")
    request = refund_request(purchase_id, 2500)
    first = await points.RefundPurchase(request)
    again = await points.RefundPurchase(request)
    assert (first.points_reversed, first.points_owed, first.entry.points) == (50, 0, -50)
    assert (again.duplicate, again.entry.entry_id) == (True, first.entry.entry_id)
    assert first.entry.kind == pb.ENTRY_KIND_REFUND
    assert await balance(points, member_id) == 150


async def test_a_refund_event_takes_back_the_rest(
    points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    member_id = await enroll(points)
    purchase = await points.RecordPurchase(record_purchase_request(member_id, usd(10000)))
    purchase_id = purchase.entry.idempotency_key.removeprefix("purchase:")
    now = datetime.now(UTC)
    event = commerce_pb2.PurchaseRefunded(
        refund_id=str(uuid.uuid4()),
        purchase_id=purchase_id,
        member_id=member_id,
        amount=usd(10000),
        occurred_at=timestamp(now),
    )
    envelope = new_envelope(event, subject=member_id, source="e2e-shop", occurred_at=now)
    await publish(producer, member_id, envelope.SerializeToString(), kafka_headers(envelope))
    await publish(producer, member_id, envelope.SerializeToString(), kafka_headers(envelope))  # redelivered
    assert await eventually(lambda: balance(points, member_id), lambda b: b < 200, "balance") == 0


async def test_refunding_more_than_was_paid_is_failed_precondition(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    purchase = await points.RecordPurchase(record_purchase_request(member_id, usd(1000)))
    purchase_id = purchase.entry.idempotency_key.removeprefix("purchase:")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.RefundPurchase(refund_request(purchase_id, 1001))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details().startswith("amount:")
    assert await balance(points, member_id) == 20
