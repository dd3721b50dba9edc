"""A periodic job that fails waits for its next run: a defect in a job never ends the service that runs it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import REGISTRY

from services.common import runtime
from services.common.runtime import PeriodicJob
from services.common.telemetry import configure_logging


def runs(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("loyalty_job_runs_total", {"periodic_job": job, "outcome": outcome}) or 0.0


async def test_a_job_failing_unexpectedly_runs_again_at_its_next_interval(caplog: pytest.LogCaptureFixture) -> None:
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    attempts: list[int] = []
    ran_twice = asyncio.Event()

    async def run_once() -> int:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise KeyError("a defect")
        ran_twice.set()
        return len(attempts)

    job = PeriodicJob(name, 0.01, run_once)
    with caplog.at_level(logging.INFO, logger="services.common.runtime"):
        running = asyncio.create_task(job.run())
        await asyncio.wait_for(ran_twice.wait(), timeout=5)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert runs(name, "failed") == 1 and runs(name, "ok") >= 1
    assert REGISTRY.get_sample_value("loyalty_job_last_success_timestamp_seconds", {"periodic_job": name}) > 0
    # An alert compares the last success's age with the interval, for jobs of any period.
    assert REGISTRY.get_sample_value("loyalty_job_interval_seconds", {"periodic_job": name}) == 0.01
    failure = next(r for r in caplog.records if r.getMessage() == "job failed unexpectedly; next run as scheduled")
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], KeyError)


async def test_a_job_that_never_succeeded_has_no_last_success() -> None:
    name = f"broken-{uuid.uuid4().hex[:8]}"

    async def run_once() -> None:
        raise ValueError("always")

    await PeriodicJob(name, 60, run_once).run_logged()
    assert runs(name, "failed") == 1 and runs(name, "ok") == 0
    assert REGISTRY.get_sample_value("loyalty_job_last_success_timestamp_seconds", {"periodic_job": name}) is None


async def test_each_run_is_logged_with_the_trace_id_of_its_span(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(runtime, "tracer", provider.get_tracer("tests"))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("points", "INFO", stream=stream)
    try:
        name = f"traced-{uuid.uuid4().hex[:8]}"
        await PeriodicJob(name, 60, _returns_three).run_logged()
        await PeriodicJob(name, 60, _fails).run_logged()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ran, failed = [line for line in lines if line.get("job") == name]
    ok_span, failed_span = spans.get_finished_spans()
    assert ran["message"] == "job ran" and ran["trace_id"] == f"{ok_span.context.trace_id:032x}"
    assert failed["message"] == "job failed; next run as scheduled"
    assert failed["trace_id"] == f"{failed_span.context.trace_id:032x}"
    assert failed_span.status.status_code == StatusCode.ERROR and failed_span.events[0].name == "exception"


async def _returns_three() -> int:
    return 3


async def _fails() -> None:
    raise OSError("database away")
