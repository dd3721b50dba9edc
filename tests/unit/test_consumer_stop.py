"""Stopping Kafka clients is bounded: a broker that never answers does not hold up a shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.common import kafka


class StopsAfterAPause:
    """A client whose broker answers the stop, after a moment."""

    stopped = False

    async def stop(self) -> None:
        await asyncio.sleep(0)
        self.stopped = True


async def test_a_client_stop_that_ends_is_awaited_to_the_end() -> None:
    client = StopsAfterAPause()
    await kafka.stop_quietly(client, "consumer points.purchases")  # type: ignore[arg-type]
    assert client.stopped


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
