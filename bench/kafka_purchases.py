"""PurchaseMade events applied by the points consumer, next to a bare consumer reading the same messages.

    python bench/kafka_purchases.py [--events 5000]

Publishes a backlog of PurchaseMade events while the points service is
stopped, starts it, and times until every purchase is recorded; the ceiling
is how fast a consumer that does nothing reads the same messages from the
same broker in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from benchkit import enroll_members, platform
from loyalty.common.v1.common_pb2 import Money

from services.client import purchase_made_message
from services.common.kafka import PURCHASES_TOPIC
from services.dev import Platform

PRICE = Money(amount_minor=1999, currency_code="USD")


async def _publish_backlog(running: Platform, members: list[str], events: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=running.kafka_bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        for index in range(events):
            member_id = members[index % len(members)]
            value, headers = purchase_made_message(member_id, PRICE, source="bench")
            await producer.send(PURCHASES_TOPIC, value, key=member_id.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


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


async def main(events: int) -> None:
    async with platform() as running:
        members = await enroll_members(running, 100)
        await running.stop_service("points")
        await _publish_backlog(running, members, events)
        await running.start_service("points")
        started = time.perf_counter()
        await _wait_for_purchases(running.database_url("points"), events)
        applied = events / (time.perf_counter() - started)
        ceiling = await _bare_read_rate(running.kafka_bootstrap, events)
    print(f"PurchaseMade applied   {applied:9.0f} events/s")
    print(f"bare consumer ceiling  {ceiling:9.0f} events/s   ratio {applied / ceiling:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    asyncio.run(main(parser.parse_args().events))
