"""Purchases over gRPC and Kafka earn the right points, once, and bad input is refused."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import purchase_made_message, record_purchase_request
from services.common.events import header
from services.common.kafka import PURCHASES_TOPIC, dead_letter_topic
from services.dev import Platform
from tests.e2e.support import (
    balance,
    enroll,
    eventually,
    new_member_id,
    publish,
    read_topic,
    usd,
)

pytestmark = pytest.mark.e2e


async def test_a_purchase_over_grpc_earns_two_points_per_whole_unit(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    member_id = await enroll(points)
    response = await points.RecordPurchase(record_purchase_request(member_id, usd(4299)))
    assert response.points_earned == 84
    assert response.balance == 84
    assert not response.duplicate
    assert await balance(points, member_id) == 84
    entries = await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id))
    assert [e.points for e in entries.entries] == [84]


async def test_a_purchase_over_kafka_earns_the_same_points(
    points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    member_id = await enroll(points)
    await publish(producer, member_id, *purchase_made_message(member_id, Money(amount_minor=1000, currency_code="JPY")))
    assert await eventually(lambda: balance(points, member_id), lambda b: b > 0, "balance") == 2000


async def test_a_purchase_id_earns_once_whichever_path_repeats_it(
    points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    member_id = await enroll(points)
    request = record_purchase_request(member_id, usd(1000), purchase_id="order-dup-1")
    first = await points.RecordPurchase(request)
    again = await points.RecordPurchase(request)
    assert (first.points_earned, first.duplicate) == (20, False)
    assert (again.points_earned, again.duplicate, again.entry.entry_id) == (20, True, first.entry.entry_id)

    # The same purchase as an event (twice, the same message), then a new purchase as a marker.
    made_at = request.occurred_at.ToDatetime(tzinfo=UTC)
    value, headers = purchase_made_message(member_id, usd(1000), purchase_id="order-dup-1", occurred_at=made_at)
    await publish(producer, member_id, value, headers)
    await publish(producer, member_id, value, headers)
    await publish(producer, member_id, *purchase_made_message(member_id, usd(500), purchase_id="order-dup-2"))

    # Events of one member are consumed in order, so once the marker counts the repeats were seen.
    assert await eventually(lambda: balance(points, member_id), lambda b: b >= 30, "balance") == 30
    entries = await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id))
    assert sorted(e.points for e in entries.entries) == [10, 20]


async def test_a_malformed_message_is_dead_lettered_and_the_consumer_goes_on(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    member_id = await enroll(points)
    await producer.send_and_wait(PURCHASES_TOPIC, b"\xffnot an envelope", key=member_id.encode())
    await publish(producer, member_id, *purchase_made_message(member_id, usd(250)))

    assert await eventually(lambda: balance(points, member_id), lambda b: b > 0, "balance") == 4

    # Each consumer group of the topic (points, insights) dead-letters it once, naming itself.
    def by_points(records: list[Any]) -> list[Any]:
        return [
            r
            for r in records
            if r.key == member_id.encode() and header(r.headers, "dlq-consumer") == "points.purchases"
        ]

    dead = await read_topic(
        platform.kafka_bootstrap, dead_letter_topic(PURCHASES_TOPIC), lambda records: bool(by_points(records))
    )
    ours = by_points(dead)
    assert len(ours) == 1
    assert ours[0].value == b"\xffnot an envelope"
    assert "cannot parse envelope" in (header(ours[0].headers, "dlq-reason") or "")


async def test_an_event_for_an_unknown_member_is_dead_lettered_with_the_reason(
    platform: Platform, producer: AIOKafkaProducer
) -> None:
    stranger = new_member_id()
    await publish(producer, stranger, *purchase_made_message(stranger, usd(1000)))
    dead = await read_topic(
        platform.kafka_bootstrap,
        dead_letter_topic(PURCHASES_TOPIC),
        lambda records: any(r.key == stranger.encode() for r in records),
    )
    reasons = [header(r.headers, "dlq-reason") for r in dead if r.key == stranger.encode()]
    assert reasons == [f"member_id: member {stranger!r} is not enrolled"]


def _violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        fields += [v.field for v in bad_request.field_violations]
    return fields


@pytest.mark.parametrize(
    ("amount", "field"),
    [
        (usd(-100), "amount.amount_minor"),
        (Money(amount_minor=100, currency_code="ZZZ"), "amount.currency_code"),
    ],
)
async def test_a_bad_purchase_is_invalid_argument_naming_the_field_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub, amount: Money, field: str
) -> None:
    member_id = await enroll(points)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.RecordPurchase(record_purchase_request(member_id, amount, purchase_id=f"bad-{member_id}"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in raised.value.details()
    assert _violated_fields(raised.value) == [field]
    assert await balance(points, member_id) == 0
    # The refused purchase id was not recorded: a corrected request with it earns.
    corrected = await points.RecordPurchase(
        record_purchase_request(member_id, usd(100), purchase_id=f"bad-{member_id}")
    )
    assert (corrected.points_earned, corrected.duplicate) == (2, False)


async def test_a_purchase_for_a_missing_member_is_not_found_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    stranger = new_member_id()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.RecordPurchase(record_purchase_request(stranger, usd(1000)))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details().startswith("member_id:")
    with pytest.raises(grpc.aio.AioRpcError) as lookup:
        await points.GetBalance(pb.GetBalanceRequest(member_id=stranger))
    assert lookup.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_missing_member_id_is_invalid_argument(points: points_pb2_grpc.PointsServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await points.GetBalance(pb.GetBalanceRequest(member_id=""))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violated_fields(raised.value) == ["member_id"]
