"""Lines that come once per call or per reconnect attempt during a database outage are throttled, not lost."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from services.common.telemetry import Throttle, configure_logging


def test_the_first_line_passes_then_one_per_interval_with_the_count_left_out() -> None:
    throttle = Throttle(every_s=10)
    assert throttle.admit(0.0) == 0
    assert [throttle.admit(t) for t in (1.0, 5.0, 9.9)] == [None, None, None]
    assert throttle.admit(10.0) == 3
    assert throttle.admit(15.0) is None
    assert throttle.admit(100.0) == 1
    assert throttle.admit(100.5) is None


Lines = Callable[[], list[dict[str, object]]]


@pytest.fixture
def clock_and_lines() -> Iterator[tuple[list[float], Lines]]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    now = [0.0]
    configure_logging("points", "INFO", (), stream, clock=lambda: now[0])
    try:
        yield now, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_a_call_warning_per_refused_call_becomes_one_per_ten_seconds(
    clock_and_lines: tuple[list[float], Lines],
) -> None:
    now, lines = clock_and_lines
    calls = logging.getLogger("services.common.grpc_server")
    for tick in range(250):  # 25 s of 10 refused calls a second
        now[0] = tick / 10
        calls.warning("database unavailable during a call", extra={"error": "ConnectionRefusedError()"})
        calls.info("call refused", extra={"method": "/m", "code": "UNAVAILABLE"})
    warnings = [line for line in lines() if line["message"] == "database unavailable during a call"]
    assert [(w.get("suppressed"), w["error"]) for w in warnings] == [
        (None, "ConnectionRefusedError()"),
        (99, "ConnectionRefusedError()"),
        (99, "ConnectionRefusedError()"),
    ]
    assert sum(line["message"] == "call refused" for line in lines()) == 250  # the access log keeps every call


def test_asyncpgs_reconnect_traceback_becomes_one_line_a_minute(clock_and_lines: tuple[list[float], Lines]) -> None:
    now, lines = clock_and_lines
    pool = logging.getLogger("asyncpg.pool")
    for second in range(130):
        now[0] = float(second)
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError:
            pool.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    written = lines()
    assert len(written) == 3
    assert all("exc_info" not in line and "Traceback" not in json.dumps(line) for line in written)
    assert written[0]["error"] == "ConnectionRefusedError(111, 'Connect call failed')"
    assert [line.get("suppressed") for line in written] == [None, 59, 59]


def test_other_lines_are_not_throttled(clock_and_lines: tuple[list[float], Lines]) -> None:
    _, lines = clock_and_lines
    for _ in range(5):
        logging.getLogger("services.common.consumer").warning("database unavailable during a call")
    assert len(lines()) == 5
