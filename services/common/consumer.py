"""Kafka consumers: the poll loop, retries, dead letters and offsets (BatchConsumer).

What a consumer does with a batch is its `process`; the event consumers
(services/common/event_consumer.py) apply each event through the inbox, so a
redelivered event changes nothing. A message that cannot be parsed
or that the domain refuses goes to `<topic>.dlq` with the reason in the
`dlq-reason` header, and the consumer moves on (one too large to go with its
headers goes without its value: `dlq-omitted`). A database outage is not the
message's fault: the database unreachable, read-only (a failover), out of
connections, or the statement cancelled (db.DATABASE_UNAVAILABLE), the
consumer retries the same batch until it goes through, however long that takes.
A message the consumer fails on unexpectedly (a defect) is dead-lettered after
three attempts, its batch's other messages applied one at a time.
Offsets are committed only after the effect is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace

from services.common.consumer_group import commit, revoked, start_with_retry
from services.common.db import DATABASE_UNAVAILABLE, TRANSACTION_CONFLICT, refused_value
from services.common.dead_letters import DeadLetterNotSent, DeadLetters, DeadLetterTooLarge, Headers
from services.common.errors import DomainError
from services.common.events import header
from services.common.kafka import new_consumer, stop_quietly
from services.common.lost_log import LostLogWatch
from services.common.metrics import (
    CONSUMER_BATCH_DURATION,
    CONSUMER_DEAD_LETTERED,
    ConsumerLag,
)
from services.common.settings import KafkaSettings
from services.common.tracing import consuming, mark_dead_lettered

log = logging.getLogger(__name__)

_LOG_CHECK_INTERVAL_S = 2.0
_IDLE_LAG_TIMEOUT_S = 1.0


class BatchConsumer:
    """Polls a topic, hands each partition's batch to `process`, and commits offsets once that returned.

    Subclasses decide what a batch means (EventConsumer: events by type,
    through the inbox). `dead_letter` sends a refused message to
    `<topic>.dlq` with the reason.
    """

    # Records per poll: larger for high-volume topics whose batches are applied set-based.
    max_poll_records = 500
    # Apply a poll's partitions at the same time, each in order and in batches of at most
    # max_poll_records. Only for topics keyed by what their transactions lock (the member), so
    # that batches of different partitions never wait on each other's row locks.
    parallel_partitions = False
    # A batch applied under one span (partner accruals) keeps it unmarked when it dead-letters one of its records:
    # its other records went through. Otherwise a record is dead-lettered in its own span, marked failed.
    one_span_per_batch = False

    def __init__(self, *, name: str, topic: str, pool: asyncpg.Pool, kafka: KafkaSettings) -> None:
        """`name` is the consumer group (and, for EventConsumer, the inbox namespace)."""
        self.name = name
        self.topic = topic
        self._pool = pool
        self._kafka = kafka
        self.applied = 0
        self.dead_lettered = 0
        # Assignments the group has given this consumer, and how many there were when the poll being applied was
        # made (a rebalance assigns while a poll's batches are still being applied, their retries too).
        self._assignments = 0
        self._assignments_at_poll = 0
        # Per partition, the offsets of the batch being applied already dead-lettered as unreadable: a batch
        # applied again (a later message met a database outage) would otherwise send them again each time.
        self._unreadable_sent: dict[TopicPartition, set[int]] = {}
        self._lag = ConsumerLag(name, topic)

    async def process(self, records: list[ConsumerRecord], dead_letters: DeadLetters) -> None:
        raise NotImplementedError

    def partitions_assigned(self, partitions: set[int]) -> None:
        """The group gave this consumer `partitions` (again): another member may have read them meanwhile."""

    def assigned(self, partitions: set[int]) -> None:
        """The group's assignment, as its rebalance listener reports it: counted, then told to partitions_assigned."""
        self._assignments += 1
        # A lag measured while the rebalance was revoking them may have exported a partition given to another.
        self._lag.keep_only(partitions)
        self.partitions_assigned(partitions)

    def revoked(self, partitions: set[int]) -> None:
        """The group took `partitions` (a rebalance): their lag is their next owner's to export. Left, each series
        would stay at its last value beside the new owner's, the same labels from two replicas."""
        self._lag.forget(partitions)

    @property
    def assigned_since_poll(self) -> bool:
        """Whether the group assigned partitions since the poll being applied was made: another member may have
        read them meanwhile, past this poll's records, and they are read again from their committed offsets."""
        return self._assignments != self._assignments_at_poll

    async def run(self) -> None:
        consumer = new_consumer(
            self._kafka,
            self.name,
            self.topic,
            max_poll_records=self.max_poll_records,
            on_assignment=self.assigned,
            on_revocation=self.revoked,
        )
        dead_letters = DeadLetters(self._kafka, self.topic)
        lost_logs = LostLogWatch(self._kafka)
        try:
            # Inside the try: a consumer cancelled while joining its group must still leave it,
            # or the next member to join waits for the session to time out.
            await start_with_retry(consumer)
            next_log_check = time.monotonic() + _LOG_CHECK_INTERVAL_S
            while True:
                _stop_if_cancelled()
                batches = await consumer.getmany(timeout_ms=500, max_records=self._poll_limit(consumer))
                self._assignments_at_poll = self._assignments
                await self._apply_poll(consumer, batches, dead_letters, lost_logs)
                await dead_letters.close()
                if batches:
                    await commit(consumer)
                if time.monotonic() >= next_log_check:
                    # Busy or idle: under steady load a lost log must be noticed all the same.
                    await lost_logs.rewind_lost(consumer)
                    if not batches:
                        await self._record_idle_lag(consumer)
                    next_log_check = time.monotonic() + _LOG_CHECK_INTERVAL_S
        finally:
            # Each stop is bounded (kafka.stop_quietly): a broker that does not answer must not keep a service
            # from shutting down. The group notices a member gone at its session timeout.
            await lost_logs.stop()
            await stop_quietly(consumer, f"consumer {self.name}")
            await dead_letters.close()

    def _poll_limit(self, consumer: AIOKafkaConsumer) -> int:
        if not self.parallel_partitions:
            return self.max_poll_records
        # One poll usually returns what one partition's fetch brought; more lets several apply at once.
        return self.max_poll_records * max(1, len(consumer.assignment()))

    async def _apply_poll(
        self,
        consumer: AIOKafkaConsumer,
        batches: Mapping[TopicPartition, list[ConsumerRecord]],
        dead_letters: DeadLetters,
        lost_logs: LostLogWatch,
    ) -> None:
        # Each coroutine is made only when it is awaited or scheduled: made up front, the ones after
        # a failing or cancelled partition were never awaited (and warned so at teardown).
        if not self.parallel_partitions:
            for partition, records in batches.items():
                await self._apply_partition(consumer, partition, records, dead_letters, lost_logs)
            return
        async with asyncio.TaskGroup() as group:
            for partition, records in batches.items():
                group.create_task(self._apply_partition(consumer, partition, records, dead_letters, lost_logs))

    async def _apply_partition(
        self,
        consumer: AIOKafkaConsumer,
        partition: TopicPartition,
        records: list[ConsumerRecord],
        dead_letters: DeadLetters,
        lost_logs: LostLogWatch,
    ) -> None:
        _fill_null_headers(records)
        for start in range(0, len(records), self.max_poll_records):
            if revoked(consumer, partition):
                # Its new owner reads on from the last offset committed, and the commit after this poll covers
                # only the partitions assigned now: the rest of these records would only race that owner.
                log.info(
                    "partition revoked mid-poll; the rest of its records left to its new owner", **_at(self, records)
                )
                return
            stalled = partial(self._record_stalled_lag, consumer, partition, records[start].offset)
            try:
                with CONSUMER_BATCH_DURATION.labels(self.name, self.topic).time():
                    await self._process_with_retry(
                        records[start : start + self.max_poll_records], dead_letters, stalled
                    )
            finally:
                self._unreadable_sent.pop(partition, None)
        lost_logs.applied(partition, records[-1])
        self._record_lag(consumer, partition, records[-1].offset + 1)

    def _record_lag(self, consumer: AIOKafkaConsumer, partition: TopicPartition, position: int) -> None:
        if revoked(consumer, partition):
            return  # its lag is its new owner's to tell (and aiokafka's highwater() asserts the assignment)
        highwater = consumer.highwater(partition)
        if highwater is not None:
            self._lag.record(partition.partition, highwater - position)

    async def _record_stalled_lag(self, consumer: AIOKafkaConsumer, partition: TopicPartition, position: int) -> None:
        """The lag of a partition whose batch at `position` is being retried (the database away): the consumer
        fetches nothing meanwhile, so only the broker's end offset tells how far behind it falls."""
        if revoked(consumer, partition):
            return
        try:
            async with asyncio.timeout(_IDLE_LAG_TIMEOUT_S):
                end_offsets = await consumer.end_offsets([partition])
        except (KafkaError, TimeoutError) as error:
            log.info("consumer lag not measured", extra={"error": repr(error)})
            return
        if not revoked(consumer, partition):  # taken while the broker answered: no longer this consumer's to tell
            self._lag.record(partition.partition, end_offsets[partition] - position)

    async def _record_idle_lag(self, consumer: AIOKafkaConsumer) -> None:
        # Bounded: aiokafka's position() waits until the partition has one, forever for a partition
        # assigned but unknown to the consumer's metadata (the embedded broker, some minutes after a
        # restart, may list fewer partitions than the group was assigned); that wedged the whole loop.
        try:
            async with asyncio.timeout(_IDLE_LAG_TIMEOUT_S):
                for partition in consumer.assignment():
                    self._record_lag(consumer, partition, await consumer.position(partition))
        except (KafkaError, TimeoutError) as error:
            log.info("consumer lag not measured", extra={"error": repr(error)})

    async def _process_with_retry(
        self, records: list[ConsumerRecord], dead_letters: DeadLetters, stalled: Callable[[], Awaitable[None]]
    ) -> None:
        """Apply a partition's batch; a database outage or a lost deadlock retries the whole batch, never skips it.

        `stalled` is told each time the batch is to be retried."""
        backoff = 0.2
        failures = 0
        given_up: str | None = None  # the reason to dead-letter the message with, once it failed too often
        while True:
            try:
                if given_up is None:
                    await self.process(records, dead_letters)
                else:
                    with consuming(self.topic, self.name, list(records[0].headers or ())):
                        await self.dead_letter(records[0], dead_letters, given_up)
                        mark_dead_lettered(given_up)
                return
            except _RETRIED as error:
                failures = 0
                log.warning(
                    "batch not applied (database or broker unavailable, or a concurrent transaction won); retrying",
                    extra={"consumer": self.name, "offset": records[0].offset, "error": repr(error)},
                )
                await stalled()
            except Exception as error:
                # A defect met by some message: ending the consumer would end the service, and every restart
                # would meet the message again. The batch's transactions rolled back; its messages go one at a
                # time (their effects are idempotent), and the one that fails again and again is dead-lettered.
                failures += 1
                if len(records) > 1:
                    log.exception("batch failed unexpectedly; applied again a message at a time", **_at(self, records))
                    for record in records:
                        await self._process_with_retry([record], dead_letters, stalled)
                    return
                if failures >= _UNEXPECTED_ATTEMPTS and given_up is None:
                    log.exception("message failed unexpectedly; dead-lettered", **_at(self, records))
                    given_up = f"unexpected error: {error!r}"
                    continue  # sent like any dead letter: a broker away has it sent again, never lost
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5)

    async def dead_letter_unreadable(self, record: ConsumerRecord, dead_letters: DeadLetters, reason: str) -> None:
        """`dead_letter` a message that cannot be read, once however often its batch is applied again.

        Reading it (parsing it, checking its credential) depends on the message alone: every attempt at the batch
        would refuse it the same way.
        """
        sent = self._unreadable_sent.setdefault(TopicPartition(record.topic, record.partition), set())
        if record.offset not in sent:
            await self.dead_letter(record, dead_letters, reason)
            sent.add(record.offset)

    async def dead_letter(self, record: ConsumerRecord, dead_letters: DeadLetters, reason: str) -> None:
        about = [
            ("dlq-reason", reason.encode()),
            ("dlq-consumer", self.name.encode()),
            ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        await _send_dead_letter(dead_letters, record, about)
        # Logged and counted once the broker took it: a send that failed (DeadLetterNotSent) has its batch run
        # again, and the message is logged when its dead letter is, once.
        self.dead_lettered += 1
        CONSUMER_DEAD_LETTERED.labels(self.name, self.topic).inc()
        # The span it was read in (its own, or its batch's) counts it, and says why.
        trace.get_current_span().add_event(
            "dead-lettered", {"messaging.kafka.offset": record.offset, "loyalty.dlq.reason": reason}
        )
        if not self.one_span_per_batch:
            mark_dead_lettered(reason)
        # Inside that span: the line carries its trace_id and span_id.
        log.warning(
            "event dead-lettered",
            extra={
                "consumer": self.name,
                "topic": self.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason,
                # As the producer sent it (the span's may start a trace: the header missing, or unreadable).
                "traceparent": header(list(record.headers or ()), "traceparent"),
            },
        )


# Headers never copied to a dead-letter topic.
_CREDENTIAL_HEADERS = frozenset({"authorization"})

# How much of each dlq-* header a dead letter sent as its headers alone keeps.
_STUB_HEADER_BYTES = 4096


async def _send_dead_letter(dead_letters: DeadLetters, record: ConsumerRecord, about: Headers) -> None:
    """Send `record` with the `about` (dlq-*) headers; too large for that, without its value; still too large,
    as its `about` headers alone.

    A message must leave its partition even when it cannot be dead-lettered whole: retried, it would block the
    partition for ever. What a smaller dead letter leaves out stays on the source topic, where its dlq-source
    header finds it; dlq-omitted says what was left out and dlq-original-size how large the message was.
    """
    # A credential stays with the producer: the dead-letter topic is read by operators, kept for long.
    kept = [(name, value) for name, value in record.headers or () if name.lower() not in _CREDENTIAL_HEADERS]
    size = ("dlq-original-size", str(_size(record)).encode())
    attempts = [
        (record.key, record.value, [*kept, *about]),
        (record.key, None, [*kept, *about, ("dlq-omitted", b"value"), size]),
    ]
    for key, value, headers in attempts:
        try:
            await dead_letters.send(key, value, headers)
            return
        except DeadLetterTooLarge as error:
            log.warning(
                "dead letter too large; sent smaller",
                extra={"partition": record.partition, "offset": record.offset, "error": str(error)},
            )
    # Small whatever the message: a reason may quote the input, cut here.
    stub = [(name, value[:_STUB_HEADER_BYTES]) for name, value in about]
    await dead_letters.send(None, None, [*stub, ("dlq-omitted", b"key, value, headers"), size])


def _stop_if_cancelled() -> None:
    """Raise CancelledError if this task's cancellation is still pending: one lost in a race inside something the
    loop awaited (an asyncio TaskGroup, a client library) left the task polling forever, still marked as being
    cancelled (seen in CI: a test's consumer never stopped)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _size(record: ConsumerRecord) -> int:
    """The bytes of a record's key, value and headers."""
    headers = sum(len(name.encode()) + len(value or b"") for name, value in record.headers or ())
    return len(record.key or b"") + len(record.value or b"") + headers


def refusal_reason(error: BaseException) -> str:
    """Why an event was dead-lettered: the domain's message (without a refused value of a personal field: the
    reason is logged and kept in a header), or what kind of value the database refused (VALUE_REFUSED), in one
    line. The database's own message names tables and constraints and quotes the row: it is logged here, for
    whoever mends the cause, and kept out of the dead letter, which is read more widely and kept for long."""
    if isinstance(error, DomainError):
        return error.logged
    log.warning("the database refused a value of an event", extra={"error": repr(error)})
    return f"the database refused a value: {refused_value(error)}"


def _at(consumer: BatchConsumer, records: list[ConsumerRecord]) -> dict[str, Any]:
    return {"extra": {"consumer": consumer.name, "partition": records[0].partition, "offset": records[0].offset}}


# A message that fails unexpectedly this many times in a row is dead-lettered (one unexplained failure may pass).
_UNEXPECTED_ATTEMPTS = 3

# What a batch is applied again after, from its start: none of it is the batch's own fault.
_RETRIED: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, *TRANSACTION_CONFLICT, DeadLetterNotSent)


def _fill_null_headers(records: list[ConsumerRecord]) -> None:
    """Kafka allows a header without a value, which aiokafka gives as None: read as empty, as every reader of
    headers here expects bytes (a foreign producer's flag header would otherwise stop the consumer)."""
    for record in records:
        if record.headers and any(value is None for _, value in record.headers):
            record.headers = tuple((name, value or b"") for name, value in record.headers)
