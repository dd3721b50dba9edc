"""The database check behind readiness and loyalty_database_up: its states, its gauge and its few log lines."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from services.common.database_health import DatabaseMonitor, Reachability


def test_two_failed_checks_in_a_row_make_the_database_down_and_one_answer_makes_it_up() -> None:
    state = Reachability(failures_to_down=2)
    assert state.up
    assert state.record(answered=False) is None and state.up  # one slow answer is not an outage
    assert state.record(answered=True) is None and state.failures == 0
    assert [state.record(answered=False), state.record(answered=False)] == [None, False]
    assert not state.up
    assert state.record(answered=False) is None  # still down: no change to tell
    assert state.record(answered=True) is True and state.up
    assert state.record(answered=True) is None


def test_a_threshold_of_one_takes_the_first_failure() -> None:
    state = Reachability(failures_to_down=1)
    assert state.record(answered=False) is False


class FakeConnection:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self.terminated = False

    async def fetchval(self, query: str) -> int:
        assert query == "SELECT 1"
        if not self._database.up or self.terminated:
            raise ConnectionResetError("connection reset by peer")
        return 1

    def terminate(self) -> None:
        self.terminated = True


class FakeDatabase:
    """Connections that answer while `up`; connecting while down is refused."""

    def __init__(self) -> None:
        self.up = True
        self.connections = 0

    async def connect(self, url: str) -> FakeConnection:
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        self.connections += 1
        return FakeConnection(self)


def database_up() -> float | None:
    return REGISTRY.get_sample_value("loyalty_database_up")


async def test_the_monitor_sets_the_gauge_per_check_tells_changes_and_logs_each_outage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = FakeDatabase()
    now = [0.0]
    changes: list[bool] = []

    async def on_change(up: bool) -> None:
        changes.append(up)

    monitor = DatabaseMonitor(
        "postgresql://unused",
        on_change,
        failures_to_down=2,
        still_down_log_every_s=60,
        connect=database.connect,  # type: ignore[arg-type]
        clock=lambda: now[0],
    )
    caplog.set_level(logging.INFO, logger="services.common.database_health")

    assert await monitor.check_once() and database_up() == 1 and monitor.up
    assert await monitor.check_once() and database.connections == 1  # the check's connection is kept

    database.up = False
    outcomes = []
    for _ in range(40):  # 40 checks, 2 s apart: 80 s of outage
        now[0] += 2
        outcomes.append(await monitor.check_once())
    assert not any(outcomes) and database_up() == 0 and not monitor.up
    assert changes == [False]

    database.up = True
    now[0] += 2
    assert await monitor.check_once() and database_up() == 1 and monitor.up
    assert changes == [False, True]

    lines = [(r.getMessage(), getattr(r, "down_for_s", None)) for r in caplog.records]
    assert lines == [
        ("database unreachable; health NOT_SERVING until it answers", None),
        ("database still unreachable", 62.0),  # a minute after it was declared (t=4), timed from its first failure
        ("database reachable again; health SERVING", 80.0),  # failed from t=2 to t=82,
    ]
    assert "ConnectionRefusedError" in caplog.records[0].error  # type: ignore[attr-defined]


async def test_a_check_that_does_not_answer_in_time_fails() -> None:
    class Silent:
        async def fetchval(self, query: str) -> int:
            await asyncio.sleep(10)
            return 1

        def terminate(self) -> None:
            pass

    async def connect(url: str) -> Silent:
        return Silent()

    monitor = DatabaseMonitor("postgresql://unused", timeout_s=0.05, connect=connect)  # type: ignore[arg-type]
    assert not await monitor.check_once()
    assert database_up() == 0
