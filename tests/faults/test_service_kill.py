"""SIGKILL of each service in the middle of the load, then a restart: nothing lost, nothing counted twice."""

from __future__ import annotations

import time

import pytest

from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.faults.load import Load
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_a_killed_service_restarts_and_the_books_balance(
    fault_platform: Platform, scale: Scale, service: str
) -> None:
    async def kill_and_restart(_: Load) -> str:
        await fault_platform.kill_service(service)
        started = time.monotonic()
        await fault_platform.start_service(service)
        return f"{service} SIGKILLed, serving again after {time.monotonic() - started:.1f}s"

    report, findings = await run_scenario(f"SIGKILL {service}", fault_platform, scale, kill_and_restart)
    record(report, findings)
