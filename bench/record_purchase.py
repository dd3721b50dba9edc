"""Purchase throughput over gRPC and Kafka, each beside a ceiling measured in the same run.

    python bench/record_purchase.py [--requests 2000] [--concurrency 32] [--events 5000]

Starts the platform as `loyalty dev` does (on free ports, machine PostgreSQL at
127.0.0.1:5432 when it answers, else embedded) and prints:
  - RecordPurchase calls/s next to grpc.health.v1 Check calls/s on the same
    server and concurrency (the cost of an empty RPC: the gRPC ceiling);
  - PurchaseMade events/s applied by the points consumer next to how fast a
    bare consumer reads the same messages from the broker (the Kafka ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import purchase_made_message, record_purchase_request
from services.common.embedded import free_port
from services.common.kafka import PURCHASES_TOPIC
from services.common.settings import SERVICE_NAMES
from services.dev import Platform

MEMBERS = 100
PRICE = Money(amount_minor=1999, currency_code="USD")


async def _rate(calls: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second of `call(i)` for i in range(calls), `concurrency` at a time."""
    queue = iter(range(calls))

    async def worker() -> None:
        for index in queue:
            await call(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


async def _grpc_figures(platform: Platform, members: list[str], requests: int, concurrency: int) -> None:
    async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest()
        await _rate(200, concurrency, lambda i: health.Check(check))  # warm up both paths
        ceiling = await _rate(requests, concurrency, lambda i: health.Check(check))
        figure = await _rate(
            requests,
            concurrency,
            lambda i: points.RecordPurchase(record_purchase_request(members[i % MEMBERS], PRICE)),
        )
    print(
        f"gRPC  RecordPurchase  {figure:9.0f} calls/s   ceiling (health Check) {ceiling:9.0f} calls/s"
        f"   ratio {figure / ceiling:.3f}"
    )


async def _wait_for_purchases(database_url: str, expected: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        while await connection.fetchval("SELECT count(*) FROM purchases") < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def _bare_read_rate(bootstrap: str, count: int) -> float:
    consumer = AIOKafkaConsumer(PURCHASES_TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            seen += sum(len(records) for records in batches.values())
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _kafka_figures(platform: Platform, members: list[str], events: int, already_recorded: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        await platform.stop_service("points")  # publish first, so the consumer meets a full backlog
        for index in range(events):
            member_id = members[index % MEMBERS]
            value, headers = purchase_made_message(member_id, PRICE, source="bench")
            await producer.send(PURCHASES_TOPIC, value, key=member_id.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    started = time.perf_counter()
    await platform.start_service("points")
    await _wait_for_purchases(platform.database_url("points"), already_recorded + events)
    figure = events / (time.perf_counter() - started)
    ceiling = await _bare_read_rate(platform.kafka_bootstrap, events)
    print(
        f"Kafka PurchaseMade    {figure:9.0f} events/s  ceiling (bare consumer)  {ceiling:9.0f} events/s"
        f"   ratio {figure / ceiling:.3f}   (figure includes service start)"
    )


async def main(requests: int, concurrency: int, events: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        platform = Platform(
            data_dir=Path(data_dir),
            kafka_port=free_port(),
            grpc_ports={name: free_port() for name in SERVICE_NAMES},
            seed=False,
        )
        await platform.start()
        try:
            async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
                points = points_pb2_grpc.PointsServiceStub(channel)
                members = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(MEMBERS)]
                for member_id in members:
                    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
            await _grpc_figures(platform, members, requests, concurrency)
            await _kafka_figures(platform, members, events, already_recorded=requests)
        finally:
            await platform.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--events", type=int, default=5000)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.concurrency, options.events))
