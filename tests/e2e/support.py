"""Helpers for the e2e tests: requests, events, and waiting for asynchronous outcomes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc
from loyalty.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from loyalty.tickets.v1 import tickets_pb2, tickets_pb2_grpc

from services.common.kafka import PURCHASES_TOPIC
from services.dev import Platform

T = TypeVar("T")
DEADLINE_S = 60.0


def new_member_id() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def usd(amount_minor: int) -> Money:
    return Money(amount_minor=amount_minor, currency_code="USD")


async def publish(producer: AIOKafkaProducer, member_id: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    await producer.send_and_wait(PURCHASES_TOPIC, value, key=member_id.encode(), headers=headers)


async def enroll(points: points_pb2_grpc.PointsServiceStub, member_id: str | None = None) -> str:
    member_id = member_id or new_member_id()
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    return member_id


async def balance(points: points_pb2_grpc.PointsServiceStub, member_id: str) -> int:
    response = await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))
    return int(response.balance)


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], what: str) -> T:
    """Poll until `accept(await probe())`; fail naming `what` and the last value after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if accept(last):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: still {last!r} after {DEADLINE_S:.0f}s")


async def read_topic(bootstrap: str, topic: str, accept: Callable[[list[object]], bool]) -> list[object]:
    """Read `topic` from the start until `accept(records)` holds or the deadline passes."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[object] = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and not accept(records):
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


_TIER_VIEWS = {
    "rewards": (rewards_pb2_grpc.MemberViewServiceStub, rewards_pb2.GetMemberTierRequest),
    "tickets": (tickets_pb2_grpc.MemberViewServiceStub, tickets_pb2.GetMemberTierRequest),
}


async def known_tier(platform: Platform, service: str, member_id: str) -> str:
    """The tier `service` has learned for the member from points events; empty if none yet."""
    stub_class, request_class = _TIER_VIEWS[service]
    async with grpc.aio.insecure_channel(platform.grpc_address(service)) as channel:
        try:
            response = await stub_class(channel).GetMemberTier(request_class(member_id=member_id))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return ""
            raise
    return str(response.tier)
