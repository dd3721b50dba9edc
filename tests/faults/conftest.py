"""The fault suite: a platform of its own on an embedded PostgreSQL (so it may be restarted), and the report.

Scenarios share the platform, one after the other; each audits its own
members, and the stuck-row checks hold for the whole platform after every
scenario. The table of all scenarios is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.runtime import log_task_stacks
from services.dev import Platform
from tests.faults.books import REPORTS, table
from tests.faults.scale import SCALES, Scale

# Redemptions a crash leaves behind are taken up after a two-second lease; held messages and
# triggers are looked at every two seconds, so the audit can tell a stuck one within its settle time.
FAULT_ENV = {
    "LOYALTY_OUTBOX_POLL_MS": "50",
    "LOYALTY_REWARDS_LEASE_S": "2",
    "LOYALTY_REWARDS_RECOVERY_INTERVAL_S": "1",
    "LOYALTY_NOTIFICATIONS_SCHEDULER_INTERVAL_S": "2",
    "LOYALTY_LOG_LEVEL": "WARNING",
    "LOYALTY_KAFKA_CLIENT_LOG_LEVEL": "INFO",
    # A killed service's partitions go to its restarted self after 6 s (Kafka's least by default), not 10;
    # the embedded broker holds each group join for half of it.
    "LOYALTY_KAFKA_SESSION_TIMEOUT_MS": "6000",
}


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> Scale:
    return SCALES[str(request.config.getoption("--faults"))]


@pytest.fixture(scope="session")
async def fault_platform() -> AsyncIterator[Platform]:
    """The whole platform as processes, on an embedded PostgreSQL that only this suite uses.

    Its data lives outside pytest's temporary root, which other pytest runs on the
    machine prune while a long run of this suite may still need it; the logs
    (`<data dir>/logs`) are kept after the run.
    """
    # `kill -USR1 <pytest>` logs where the harness's own tasks wait, as the services do.
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, log_task_stacks)
    data_dir = Path(tempfile.mkdtemp(prefix="loyalty-faults-"))
    platform = Platform.on_free_ports(data_dir, FAULT_ENV, postgres_admin_url=None, seed=False)
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()
        # The database goes; the services' logs stay for whoever reads a failure.
        shutil.rmtree(data_dir / "postgres", ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A scenario past its own limit fails by itself (scenario.py); this is the backstop, startup included."""
    limit = SCALES[str(config.getoption("--faults"))].scenario_limit_s + 300
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(pytest.mark.timeout(limit))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.section("fault scenarios: the books")
        terminalreporter.write_line(table(REPORTS))
