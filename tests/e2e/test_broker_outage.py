"""The broker goes away under a stream of purchases: nothing is lost, nothing counts twice."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from loyalty.points.v1 import points_pb2_grpc

from services.client import purchase_made_message, record_purchase_request
from services.dev import Platform
from tests.e2e.support import (
    balance,
    enroll,
    eventually,
    known_tier,
    publish,
    usd,
)

pytestmark = pytest.mark.e2e

AMOUNTS_MINOR = [100 * (i % 7 + 1) for i in range(40)]  # 1.00 to 7.00 USD


async def _purchase_stream(points: points_pb2_grpc.PointsServiceStub, member_id: str, stop: asyncio.Event) -> int:
    """Record purchases over gRPC until told to stop; returns the points the responses promised."""
    earned = 0
    for amount in AMOUNTS_MINOR:
        response = await points.RecordPurchase(record_purchase_request(member_id, usd(amount)))
        earned += response.points_earned
        await asyncio.sleep(0.1)
        if stop.is_set():
            break
    return earned


async def test_a_broker_restart_loses_no_event(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub, producer: AIOKafkaProducer
) -> None:
    buyer = await enroll(points)
    stop = asyncio.Event()
    stream = asyncio.create_task(_purchase_stream(points, buyer, stop))
    await asyncio.sleep(0.5)

    await platform.kill_broker()
    enrolled_while_down = [await enroll(points) for _ in range(3)]
    await asyncio.sleep(3)
    await platform.start_broker()
    earned_over_grpc = await stream

    # Events written to the outbox while the broker was down reach the other services...
    async def views_that_know_them() -> int:
        tiers = [await known_tier(platform, s, m) for m in enrolled_while_down for s in ("rewards", "tickets")]
        return sum(tier == "base" for tier in tiers)

    await eventually(views_that_know_them, lambda known: known == 6, "tier views of members enrolled while down")

    # ...the ledger holds exactly what the responses promised...
    assert await balance(points, buyer) == earned_over_grpc

    # ...and the Kafka path works again after the restart.
    await publish(producer, buyer, *purchase_made_message(buyer, usd(1000), purchase_id=f"after-restart-{buyer}"))
    expected = earned_over_grpc + 20
    assert await eventually(lambda: balance(points, buyer), lambda b: b >= expected, "balance") == expected
