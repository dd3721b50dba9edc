"""The embedded broker stopped under load and started again empty: topics, offsets and acknowledged messages gone.

Nobody re-creates the topics for the services here: the outbox relays notice
the broker lost its log, re-create their topics and replay their retained
rows; consumers past the end of a partition read it again; the harness, as a
producer keeping what it sent, replays its messages the same way. Inboxes
absorb every copy.
"""

from __future__ import annotations

import asyncio

import pytest

from services.dev import Platform
from tests.faults.load import Load
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario

pytestmark = pytest.mark.faults


async def test_the_broker_down_and_back_empty_loses_nothing(fault_platform: Platform, scale: Scale) -> None:
    async def outage(_: Load) -> str:
        await fault_platform.stop_broker()
        await asyncio.sleep(scale.broker_down_s)
        await fault_platform.start_broker(create_topics=False)
        return f"broker down {scale.broker_down_s:.0f}s, back with no topics"

    report, findings = await run_scenario("broker outage", fault_platform, scale, outage)
    record(report, findings)
