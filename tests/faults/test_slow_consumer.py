"""A slow consumer: a replica of the purchases consumer stalls for a while holding its partitions, then goes.

The stalled replica joins the `points.purchases` group like any replica, takes
its share of the partitions and processes nothing (as a replica stuck in a
long pause would). When it leaves, the group gives its partitions back to the
running consumer, which resumes from the committed offsets: each member's
purchases must then be applied in the order they were sent, and all of them
exactly once.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer

from services.common.kafka import PURCHASES_TOPIC
from services.dev import Platform
from tests.faults.audit import ledger
from tests.faults.load import Load
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario
from tests.faults.world import Stubs

pytestmark = pytest.mark.faults


async def _stall(bootstrap: str, seconds: float) -> str:
    replica = AIOKafkaConsumer(
        PURCHASES_TOPIC, bootstrap_servers=bootstrap, group_id="points.purchases", enable_auto_commit=False
    )
    await replica.start()
    try:
        deadline = time.monotonic() + 30
        while not replica.assignment() and time.monotonic() < deadline:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.2)
        held = sorted(tp.partition for tp in replica.assignment())
        await asyncio.sleep(seconds)
    finally:
        await replica.stop()
    return f"a stalled points.purchases replica held partitions {held} for {seconds:.0f}s"


async def _applied_in_sent_order(stubs: Stubs, load: Load) -> list[str]:
    problems = []
    for member_id, sent in load.kafka_order.items():
        wanted = set(sent)
        applied = [e.idempotency_key for e in reversed(await ledger(stubs, member_id)) if e.idempotency_key in wanted]
        if applied != sent:
            problems.append(f"{member_id}: Kafka purchases applied in the order {applied}, sent {sent}")
    return problems


async def test_a_stalled_consumer_catches_up_in_order(fault_platform: Platform, scale: Scale) -> None:
    async def stall(_: Load) -> str:
        return await _stall(fault_platform.kafka_bootstrap, scale.consumer_pause_s)

    report, findings = await run_scenario("slow consumer", fault_platform, scale, stall, check=_applied_in_sent_order)
    record(report, findings)
