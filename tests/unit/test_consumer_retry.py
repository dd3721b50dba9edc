"""A message a defect fails on is dead-lettered after three attempts, and that dead letter waits out a broker outage;
a database that cannot take the work now is waited out, however many attempts that takes."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
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


async def _nothing_to_tell() -> None:
    return None


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry back-off takes no time."""
    pause = asyncio.sleep

    async def no_pause(_: float) -> None:
        await pause(0)

    monkeypatch.setattr(consumer.asyncio, "sleep", no_pause)


@pytest.mark.usefixtures("no_pause")
async def test_the_dead_letter_of_a_message_a_defect_fails_on_waits_out_a_broker_outage() -> None:
    defective = Defective(name="defective", topic="t", pool=None, kafka=None)  # type: ignore[arg-type]
    record = ConsumerRecord("t", 0, 7, 0, 0, b"k", b"v", None, 1, 1, ())
    dead_letters = BrokerBackAfter(outage=4)
    await asyncio.wait_for(
        defective._process_with_retry([record], dead_letters, _nothing_to_tell),  # type: ignore[arg-type]
        timeout=5,
    )
    assert defective.attempts == 3
    assert dead_letters.sent == [(b"v", b"unexpected error: RuntimeError('a defect')")]


class DatabaseBackAfter(BatchConsumer):
    """Applies its batch once the database took the work again, after `outage` attempts met `error`."""

    def __init__(self, error: Exception, outage: int) -> None:
        super().__init__(name="outage", topic="t", pool=None, kafka=None)  # type: ignore[arg-type]
        self.error = error
        self.outage = outage
        self.applied_batches: list[list[int]] = []

    async def process(self, records: list[ConsumerRecord], dead_letters: Any) -> None:
        if self.outage:
            self.outage -= 1
            raise self.error
        self.applied_batches.append([record.offset for record in records])


@pytest.mark.usefixtures("no_pause")
@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(104, "Connection reset by peer"),  # client side: the server went away
        asyncpg.exceptions.ConnectionFailureError("server closed the connection unexpectedly"),  # 08006
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),  # 25006
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),  # 53300
        asyncpg.exceptions.OutOfMemoryError("out of memory"),  # 53200
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),  # 57P03
        asyncpg.exceptions.SerializationError("could not serialize access"),  # 40001, a lost conflict
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),  # 40P01, a lost conflict
    ],
)
async def test_a_database_that_cannot_take_the_batch_now_is_waited_out_never_dead_lettered(error: Exception) -> None:
    """Far more attempts than a defect gets, and the whole batch is applied at last, together."""
    outage = DatabaseBackAfter(error, outage=consumer._UNEXPECTED_ATTEMPTS * 4)
    records = [ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, ()) for offset in (7, 8)]
    dead_letters = BrokerBackAfter(outage=0)
    stalls: list[None] = []

    async def stalled() -> None:
        stalls.append(None)

    await asyncio.wait_for(outage._process_with_retry(records, dead_letters, stalled), timeout=5)  # type: ignore[arg-type]
    assert outage.applied_batches == [[7, 8]]
    assert dead_letters.sent == []
    assert len(stalls) == consumer._UNEXPECTED_ATTEMPTS * 4  # each retry tells how far behind the consumer falls
