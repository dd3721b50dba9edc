"""Getting a definitive answer through a fault: gRPC calls retried with the same key, Kafka sends retried and replayed.

A call that fails with UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED may or may not have
happened; a real client repeats it with the same idempotency key until it gets
an answer, and so does the harness. Each repeat counts as a copy in the books.

The Kafka sender is a producer that keeps what it sent, like an outbox. If the
broker acknowledges an offset at or below one it acknowledged before on a
partition, the broker lost its log (the in-memory embedded broker after a
restart): it sends everything again, the same rule the services' outbox relay
follows, and like the relay it does so on a fresh producer, never on one that
knew the lost log. Consumers absorb the copies through their inbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from tests.faults.books import Books

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED})
NEVER = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
CALL_TIMEOUT_S = 5.0
GIVE_UP_AFTER_S = 180.0
SEND_LIMIT_S = 15.0
READ_BACK_LIMIT_S = 30.0


class Undecided(Exception):
    """No definitive answer before the harness gave up: the outcome is unknown (a discrepancy)."""


async def definitive(books: Books, kind: str, call: Callable[[], Awaitable[T]]) -> T | grpc.aio.AioRpcError:
    """The answer to `call`, repeated while the outcome is unknown; a definitive error is returned, not raised.

    INTERNAL and UNKNOWN are counted (they must never happen) and retried, since
    the outcome of such a call is unknown too.
    """
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    backoff = 0.2
    first = True
    while True:
        if not first:
            books.copies[kind] += 1
        first = False
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if server_status_lost(error):
                pass  # the server ended the stream (UNAVAILABLE, say) and the client lost its status: unknown
            elif error.code() in NEVER:
                books.internal_errors[f"{kind}: {error.code().name}: {error.details()}"[:160]] += 1
            elif error.code() not in RETRYABLE:
                return error
        if time.monotonic() > deadline:
            raise Undecided(kind)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)


def server_status_lost(error: grpc.aio.AioRpcError) -> bool:
    """INTERNAL made up by the grpc aio client itself, hiding the status the server sent.

    When a server ends a client-streaming call before the client half-closed
    (it answered UNAVAILABLE while PostgreSQL was away), the client's next
    write fails and grpc aio reports that failure as INTERNAL "Internal error
    from Core" instead of the server's status (grpc/grpc#36066, fixed upstream
    by grpc/grpc#43486). The outcome is unknown, like any UNAVAILABLE.
    """
    return (
        error.code() is grpc.StatusCode.INTERNAL
        and error.details() == "Internal error from Core"
        and "execute_batch" in (error.debug_error_string() or "")
    )


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    kind: str


class KafkaSender:
    """Sends until acknowledged, remembers every message, replays them all when the broker lost its log.

    A producer that failed a send is dropped and the next send starts a fresh
    one, as the outbox relay does: a producer kept across a broker restart
    still routes by the lost log's partitions, and the embedded broker
    acknowledges sends to partitions (and topics) it does not list, where no
    consumer ever reads them. A replay starts on a fresh producer for the same
    reason.
    """

    def __init__(self, bootstrap: str, books: Books) -> None:
        self._bootstrap = bootstrap
        self._books = books
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._sent: list[Message] = []
        self._highest: dict[tuple[str, int], int] = {}
        self._replay_lock = asyncio.Lock()
        self._replay_wanted = False
        self.replays = 0
        self.resent_unserved = 0

    async def start(self) -> None:
        await self._current_producer()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._drop(self._producer)

    async def _current_producer(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap, enable_idempotence=False, acks="all", request_timeout_ms=5000
                )
                try:
                    await producer.start()
                except BaseException:
                    await _stop_quietly(producer)
                    raise
                self._producer = producer
            return self._producer

    async def _drop(self, producer: AIOKafkaProducer) -> None:
        """Stop using `producer` (once, however many sends saw it fail); the next send starts a fresh one."""
        if self._producer is producer:
            self._producer = None
            await _stop_quietly(producer)

    async def send(self, message: Message, copies: int = 1) -> None:
        """Send `message` `copies` times (each acknowledged) and remember it for a replay."""
        self._sent.append(message)
        for copy in range(copies):
            if copy:
                self._books.copies[message.kind] += 1
            await self._send_acknowledged(message)

    async def _send_acknowledged(self, message: Message) -> None:
        backoff = 0.2
        deadline = time.monotonic() + GIVE_UP_AFTER_S
        while True:
            producer: AIOKafkaProducer | None = None
            try:
                producer = await self._current_producer()
                # aiokafka can park a send in its metadata refresh for minutes: a fresh producer is quicker.
                async with asyncio.timeout(SEND_LIMIT_S):
                    ack = await producer.send_and_wait(
                        message.topic, message.value, key=message.key, headers=list(message.headers)
                    )
                break
            except (KafkaError, OSError, TimeoutError) as error:
                if time.monotonic() > deadline:
                    raise Undecided(f"kafka send: {error!r}") from error
                log.info("send failed; retrying on a fresh producer", extra={"error": repr(error)})
                if producer is not None:
                    await self._drop(producer)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
        log.info(
            "acknowledged %s %s at %s[%d]@%d", message.kind, message.key.decode(), ack.topic, ack.partition, ack.offset
        )
        partition = (ack.topic, ack.partition)
        if ack.offset <= self._highest.get(partition, -1):
            await self._replay()
        self._highest[partition] = max(self._highest.get(partition, -1), ack.offset)

    async def _replay(self) -> None:
        """Send everything again; a log lost again during a replay starts it over.

        The embedded broker can lose a topic twice in a row (it re-created a topic with
        another partition count in the middle of a replay): what the first pass had sent
        by then went with it.
        """
        self._replay_wanted = True
        if self._replay_lock.locked():
            return  # the replay under way starts over
        async with self._replay_lock:
            while self._replay_wanted:
                self._replay_wanted = False
                self.replays += 1
                log.warning("the broker lost its log: replaying %d messages", len(self._sent))
                # Dropped before the messages are listed: a send still holding the old producer
                # belongs to a message already listed, so it is replayed on the fresh one.
                if self._producer is not None:
                    await self._drop(self._producer)
                self._highest.clear()
                for message in list(self._sent):
                    if self._replay_wanted:
                        break
                    self._books.copies[message.kind] += 1
                    await self._send_acknowledged(message)

    async def confirm(self, within_s: float) -> None:
        """Send again whatever the broker acknowledged but does not serve, until it serves every message.

        The embedded broker, restarted, can create a topic twice when clients ask for it
        at once; it then acknowledges writes at offsets where it goes on serving the
        other version's record (its log says AlreadyExists). No acknowledgement shows
        that, so the harness reads its topics back, as a producer reconciling with
        what it sent would. A real Kafka cluster keeps what it acknowledged.
        """
        deadline = time.monotonic() + within_s
        while True:
            missing = await self._not_served()
            if missing == []:
                return
            if time.monotonic() > deadline:
                raise Undecided(f"acknowledged messages never served by the broker: {missing}")
            if missing is None:
                await asyncio.sleep(1)  # the broker did not answer: ask again
                continue
            log.warning("the broker does not serve %d acknowledged messages; sending them again", len(missing))
            self.resent_unserved += len(missing)
            for message in missing:
                self._books.copies[message.kind] += 1
                await self._send_acknowledged(message)

    async def _not_served(self) -> list[Message] | None:
        """The messages sent that the broker does not serve now; None if it could not be read."""
        served: set[tuple[str, bytes]] = set()
        reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        try:
            async with asyncio.timeout(READ_BACK_LIMIT_S):
                await reader.start()
                topics = {message.topic for message in self._sent}
                reader.assign([TopicPartition(t, p) for t in topics for p in reader.partitions_for_topic(t) or ()])
                await reader.seek_to_beginning()
                quiet_polls = 0
                while quiet_polls < 3:
                    batches = await reader.getmany(timeout_ms=300, max_records=1000)
                    quiet_polls = 0 if batches else quiet_polls + 1
                    served.update((r.topic, r.value) for records in batches.values() for r in records)
        except (KafkaError, OSError, TimeoutError) as error:
            log.info("reading the topics back failed", extra={"error": repr(error)})
            return None
        finally:
            await reader.stop()
        return [m for m in self._sent if (m.topic, m.value) not in served]


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await producer.stop()
    except (KafkaError, OSError) as error:
        log.info("producer stop failed", extra={"error": repr(error)})
