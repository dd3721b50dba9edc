"""Stopping Kafka clients is bounded: a broker that never answers does not hold up a shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.common import consumer, kafka


async def test_a_client_stop_that_never_ends_is_left_after_the_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(consumer, "_STOP_LIMIT_S", 0.05)
    never = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="services.common.consumer"):
        await asyncio.wait_for(consumer._bounded(never.wait(), "consumer", "points.purchases"), timeout=5)
    assert [r.getMessage() for r in caplog.records] == ["kafka client not stopped in time; left"]


async def test_a_client_stop_that_ends_is_awaited_to_the_end() -> None:
    stopped = []

    async def stop() -> None:
        await asyncio.sleep(0)
        stopped.append(True)

    await consumer._bounded(stop(), "consumer", "points.purchases")
    assert stopped == [True]


class NeverStops:
    """A client whose broker never answers: stopping it waits for ever."""

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_a_kafka_client_that_never_stops_is_left_after_the_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kafka, "STOP_LIMIT_S", 0.05)
    with caplog.at_level(logging.WARNING, logger="services.common.kafka"):
        await asyncio.wait_for(kafka.stop_quietly(NeverStops(), "outbox producer"), timeout=5)  # type: ignore[arg-type]
    assert [r.getMessage() for r in caplog.records] == ["kafka client not stopped in time; left"]
