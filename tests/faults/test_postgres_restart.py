"""PostgreSQL restarted under load: every connection drops, services reconnect without anyone's help."""

from __future__ import annotations

import pytest

from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.faults.load import Load
from tests.faults.scale import Scale
from tests.faults.scenario import record, run_scenario

pytestmark = pytest.mark.faults


async def test_a_postgres_restart_under_load_loses_nothing(fault_platform: Platform, scale: Scale) -> None:
    async def restart(_: Load) -> str:
        await fault_platform.restart_postgres(down_for_s=scale.postgres_down_s)
        alive = [name for name in SERVICE_NAMES if fault_platform.service_running(name)]
        return f"PostgreSQL down {scale.postgres_down_s:.0f}s; services still running: {', '.join(alive)}"

    report, findings = await run_scenario("PostgreSQL restart", fault_platform, scale, restart)
    record(report, findings)
    assert all(fault_platform.service_running(name) for name in ("points", "rewards", "tickets"))
