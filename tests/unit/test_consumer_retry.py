"""A message a defect fails on is dead-lettered after three attempts, and that dead letter waits out a broker outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.common import consumer
from services.common.consumer import BatchConsumer
from services.common.dead_letters import DeadLetterNotSent


class Defective(BatchConsumer):
    """Fails on every message, as code with a defect would on a message it cannot handle."""

    attempts = 0

    async def process(self, records: list[ConsumerRecord], dead_letters: Any) -> None:
        self.attempts += 1
        raise RuntimeError("a defect")


class BrokerBackAfter:
    """A dead-letter topic whose broker refuses the first `outage` sends."""

    def __init__(self, outage: int) -> None:
        self.outage = outage
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if self.outage:
            self.outage -= 1
            raise DeadLetterNotSent("the broker did not take the dead letter")
        self.sent.append((value or b"", dict(headers)["dlq-reason"]))


async def test_the_dead_letter_of_a_message_a_defect_fails_on_waits_out_a_broker_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pause = asyncio.sleep

    async def no_pause(_: float) -> None:
        await pause(0)

    monkeypatch.setattr(consumer.asyncio, "sleep", no_pause)
    defective = Defective(name="defective", topic="t", pool=None, kafka=None)  # type: ignore[arg-type]
    record = ConsumerRecord("t", 0, 7, 0, 0, b"k", b"v", None, 1, 1, ())
    dead_letters = BrokerBackAfter(outage=4)
    await asyncio.wait_for(defective._process_with_retry([record], dead_letters), timeout=5)  # type: ignore[arg-type]
    assert defective.attempts == 3
    assert dead_letters.sent == [(b"v", b"unexpected error: RuntimeError('a defect')")]
