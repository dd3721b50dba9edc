"""The transactional outbox and the relay that publishes it.

A service calls `add_event` inside the transaction that changes its state, so
the event exists exactly when the change does, and is pending (a row in
`outbox_pending`) until the broker acknowledges it. The relay publishes pending
rows in id order (which, for one member, is commit order: writers lock the
member row first) and deletes their pending rows only once the broker
acknowledged them. When the broker is down the relay keeps the rows, backs off
and tries again; nothing is lost, and a row may be published twice, which
consumers absorb through their inbox.

Events are kept for `retention` after they were written, and always until
published. If the broker acknowledges an offset at or below one it
acknowledged before on the same partition, its log was lost (the embedded
in-memory broker after a restart): the relay makes the retained rows of that
topic pending again and sends them again. A relay with nothing to send asks
the broker every 10 s whether its topics still reach the offsets it
acknowledged (services/common/lost_log.py), so that a quiet service's events
are replayed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.errors import ResourceExhausted
from services.common.events import kafka_headers
from services.common.kafka import SEND_LIMIT_S, ensure_topics_if_reachable, new_producer, stop_quietly
from services.common.lost_log import AcknowledgedLogs
from services.common.metrics import OUTBOX_PUBLISHED
from services.common.settings import KafkaSettings
from services.common.tracing import is_sampled, publishing

log = logging.getLogger(__name__)

# Any constant works; one relay per database holds it so rows go out in order.
_RELAY_LOCK_KEY = 0x0B0C5
_BATCH_SIZE = 500
_SENDS_BETWEEN_YIELDS = 20
_CLEANUP_EVERY = timedelta(minutes=1)
# How often an idle relay asks whether the broker still has what it acknowledged.
_IDLE_LOG_CHECK_EVERY_S = 10.0
# The relay reads pending ids from the start of their index, where the rows it deleted lie. Until vacuumed,
# each poll visits every one of them in the heap (tens of thousands within a minute of partner ingest, tens of
# milliseconds a poll); autovacuum looks at a table once a minute at best. So the relay vacuums it itself.
VACUUM_PENDING_AFTER = 10_000


# Below what the producer sends in one request (1 MiB, with the headers and the batch's framing): an event past
# it could never be published, and the relay would retry it, and hold up every event after it, for ever.
MAX_EVENT_BYTES = 900_000


def _serialized(envelope: EventEnvelope) -> bytes:
    value = envelope.SerializeToString()
    if len(value) > MAX_EVENT_BYTES:
        # Refused with the change that would publish it: nothing is written, as for any refused request.
        raise ResourceExhausted(
            f"the {envelope.type} event would be {len(value)} bytes, more than the {MAX_EVENT_BYTES} a message may be"
        )
    return value


async def add_event(connection: asyncpg.Connection, topic: str, envelope: EventEnvelope) -> None:
    await connection.execute(
        """WITH event AS (
               INSERT INTO outbox (event_id, topic, message_key, event_type, envelope, traceparent)
               VALUES ($1, $2, $3, $4, $5, $6)
               RETURNING id)
           INSERT INTO outbox_pending (id) SELECT id FROM event""",
        uuid.UUID(envelope.event_id),
        topic,
        envelope.subject,
        envelope.type,
        _serialized(envelope),
        envelope.traceparent or None,
    )


async def add_events(connection: asyncpg.Connection, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
    """add_event for many events in one statement (batch ingest)."""
    if not envelopes:
        return
    await connection.execute(
        """WITH event AS (
               INSERT INTO outbox (event_id, topic, message_key, event_type, envelope, traceparent)
               SELECT e.event_id, $1, e.message_key, e.event_type, e.envelope, e.traceparent
                 FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bytea[], $6::text[])
                      AS e(event_id, message_key, event_type, envelope, traceparent)
               RETURNING id)
           INSERT INTO outbox_pending (id) SELECT id FROM event""",
        topic,
        [uuid.UUID(e.event_id) for e in envelopes],
        [e.subject for e in envelopes],
        [e.type for e in envelopes],
        [_serialized(e) for e in envelopes],
        [e.traceparent or None for e in envelopes],
    )


@dataclass(frozen=True)
class _Row:
    id: int
    topic: str
    key: str
    envelope: bytes


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        kafka: KafkaSettings,
        *,
        poll_interval: float = 0.2,
        retention: timedelta = timedelta(hours=1),
        vacuum_pending_after: int = VACUUM_PENDING_AFTER,
    ) -> None:
        self._pool = pool
        self._kafka = kafka
        self._poll_interval = poll_interval
        self._retention = retention
        self._wake = asyncio.Event()
        self.published = 0
        self._vacuum_pending_after = vacuum_pending_after
        self._deleted_since_vacuum = 0

    async def run(self) -> None:
        """Publish until cancelled; only the process holding the relay lock publishes."""
        backoff = 0.5
        while True:
            try:
                await self._run_as_leader()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("outbox relay lost its database connection", extra={"error": str(error)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)

    async def _run_as_leader(self) -> None:
        async with self._pool.acquire() as connection:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):  # noqa: ASYNC110
                # Another process is the relay for this database; take over if it dies.
                await asyncio.sleep(1)
            await connection.add_listener("outbox", self._on_notify)
            try:
                await self._publish_forever(connection)
            finally:
                await connection.remove_listener("outbox", self._on_notify)
                await connection.execute("SELECT pg_advisory_unlock($1)", _RELAY_LOCK_KEY)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_forever(self, connection: asyncpg.Connection) -> None:
        producer: AIOKafkaProducer | None = None
        acknowledged_logs = AcknowledgedLogs(self._kafka)
        backoff = 0.5
        next_cleanup = 0.0
        next_log_check = time.monotonic() + _IDLE_LOG_CHECK_EVERY_S
        try:
            while True:
                self._wake.clear()
                if time.monotonic() >= next_cleanup:
                    await self._forget_old_rows(connection)
                    next_cleanup = time.monotonic() + _CLEANUP_EVERY.total_seconds()
                rows = await self._pending(connection)
                if not rows and time.monotonic() >= next_log_check:
                    if await self._replay_lost_while_idle(connection, acknowledged_logs):
                        await stop_quietly(producer, "outbox producer")  # its metadata names the lost topics
                        producer = None
                    next_log_check = time.monotonic() + _IDLE_LOG_CHECK_EVERY_S
                    continue
                if not rows:
                    await self._sleep_until_woken()
                    continue
                try:
                    async with asyncio.timeout(SEND_LIMIT_S):
                        producer = producer or await self._start_producer()
                        acknowledgements = await self._publish(producer, rows)
                    backoff = 0.5
                except (TimeoutError, KafkaError, OSError) as error:
                    log.warning("broker unavailable; outbox rows kept", extra={"error": repr(error)})
                    await stop_quietly(producer, "outbox producer")
                    producer = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10)
                    continue
                lost_topics = await self._mark_published(connection, rows, acknowledgements)
                self.published += len(rows)
                await self._vacuum_pending_now_and_then(connection, len(rows))
                for topic, count in Counter(row.topic for row in rows).items():
                    OUTBOX_PUBLISHED.labels(topic).inc(count)
                if lost_topics:
                    # A restarted in-memory broker acknowledges sends to topics it no longer lists,
                    # and nobody can read those: create the topics and start on fresh metadata.
                    await stop_quietly(producer, "outbox producer")
                    producer = None
                    await ensure_topics_if_reachable(self._kafka, lost_topics)
        finally:
            await stop_quietly(producer, "outbox producer")
            await acknowledged_logs.stop()

    async def _replay_lost_while_idle(self, connection: asyncpg.Connection, logs: AcknowledgedLogs) -> bool:
        """Replay the topics whose log the broker lost since it acknowledged their events; whether any was."""
        records = await connection.fetch("SELECT topic, partition, last_offset FROM outbox_partition_offsets")
        lost = await logs.topics_lost({(r["topic"], r["partition"]): r["last_offset"] for r in records})
        if lost:
            await self._replay_lost(connection, [], lost, {})
            await ensure_topics_if_reachable(self._kafka, lost)
        return bool(lost)

    async def _pending(self, connection: asyncpg.Connection) -> list[_Row]:
        records = await connection.fetch(
            # The first pending ids, then their rows by key: a join could walk the outbox from its start.
            """SELECT id, topic, message_key, envelope FROM outbox
                WHERE id = ANY(ARRAY(SELECT id FROM outbox_pending ORDER BY id LIMIT $1))
                ORDER BY id""",
            _BATCH_SIZE,
        )
        return [_Row(r["id"], r["topic"], r["message_key"], r["envelope"]) for r in records]

    async def _mark_published(
        self, connection: asyncpg.Connection, rows: list[_Row], acknowledgements: list[RecordMetadata]
    ) -> list[str]:
        """Mark the batch published; returns the topics whose log the broker lost (they are replayed)."""
        highest: dict[tuple[str, int], int] = {}
        lowest: dict[tuple[str, int], int] = {}
        for ack in acknowledgements:
            partition = (ack.topic, ack.partition)
            highest[partition] = max(highest.get(partition, ack.offset), ack.offset)
            lowest[partition] = min(lowest.get(partition, ack.offset), ack.offset)
        partitions = list(highest)
        # Usually nothing was lost: one statement (and no transaction) marks the rows and moves the offsets.
        # Only this process writes the offsets (it holds the relay lock), so they cannot change under it.
        lost_topics: list[str] = await connection.fetchval(
            """WITH acks AS (
                   SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
                       AS a(topic, partition, lowest, highest)),
               lost AS (
                   SELECT DISTINCT o.topic FROM outbox_partition_offsets o JOIN acks a USING (topic, partition)
                    WHERE a.lowest <= o.last_offset),
               published AS (
                   DELETE FROM outbox_pending
                    WHERE id = ANY($5::bigint[]) AND NOT EXISTS (SELECT FROM lost)),
               offsets AS (
                   INSERT INTO outbox_partition_offsets (topic, partition, last_offset)
                   SELECT topic, partition, highest FROM acks WHERE NOT EXISTS (SELECT FROM lost)
                   ON CONFLICT (topic, partition) DO UPDATE SET last_offset = EXCLUDED.last_offset)
               SELECT coalesce(array_agg(topic ORDER BY topic), '{}') FROM lost""",
            [t for t, _ in partitions],
            [p for _, p in partitions],
            [lowest[k] for k in partitions],
            [highest[k] for k in partitions],
            [r.id for r in rows],
        )
        if lost_topics:
            await self._replay_lost(connection, rows, lost_topics, highest)
        return lost_topics

    async def _replay_lost(
        self,
        connection: asyncpg.Connection,
        rows: list[_Row],
        lost_topics: list[str],
        highest: dict[tuple[str, int], int],
    ) -> None:
        """The broker lost the log of `lost_topics`: their offsets start again and their retained rows go again."""
        async with connection.transaction():
            await connection.execute("DELETE FROM outbox_pending WHERE id = ANY($1::bigint[])", [r.id for r in rows])
            # Every partition of a lost topic starts again, not only those in this batch.
            await connection.execute("DELETE FROM outbox_partition_offsets WHERE topic = ANY($1::text[])", lost_topics)
            # A lost topic's offsets start again once the replay lands on the re-created topic.
            kept = [(t, p) for t, p in highest if t not in lost_topics]
            await connection.execute(
                """INSERT INTO outbox_partition_offsets (topic, partition, last_offset)
                   SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
                   ON CONFLICT (topic, partition) DO UPDATE SET last_offset = EXCLUDED.last_offset""",
                [t for t, _ in kept],
                [p for _, p in kept],
                [highest[k] for k in kept],
            )
            await self._replay(connection, lost_topics)

    async def _replay(self, connection: asyncpg.Connection, topics: list[str]) -> None:
        # This batch too: its acknowledgements may be for a topic the broker does not list.
        replayed = await connection.fetchval(
            """WITH replay AS (
                   INSERT INTO outbox_pending (id)
                   SELECT id FROM outbox WHERE topic = ANY($1::text[])
                   ON CONFLICT (id) DO NOTHING
                   RETURNING 1)
               SELECT count(*) FROM replay""",
            topics,
        )
        log.warning(
            "broker lost its log; replaying retained outbox rows",
            extra={"topics": topics, "rows": replayed},
        )

    async def _vacuum_pending_now_and_then(self, connection: asyncpg.Connection, deleted: int) -> None:
        self._deleted_since_vacuum += deleted
        if self._deleted_since_vacuum >= self._vacuum_pending_after:
            # Without the table's ownership PostgreSQL only warns and skips it; never an error. No truncation:
            # cutting off the empty pages at the end takes a lock that would stall every writer of an event.
            await connection.execute("VACUUM (TRUNCATE false) outbox_pending")
            self._deleted_since_vacuum = 0

    async def _forget_old_rows(self, connection: asyncpg.Connection) -> None:
        await connection.execute(
            """DELETE FROM outbox o
                WHERE created_at < now() - $1::interval
                  AND NOT EXISTS (SELECT FROM outbox_pending p WHERE p.id = o.id)""",
            self._retention,
        )

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = new_producer(self._kafka)
        try:
            await producer.start()
        except BaseException:
            await stop_quietly(producer, "outbox producer")
            raise
        return producer

    async def _publish(self, producer: AIOKafkaProducer, rows: list[_Row]) -> list[RecordMetadata]:
        """Send a batch; the broker's acknowledgements, or raise if any send failed."""
        deliveries = []
        for index, row in enumerate(rows, 1):
            deliveries.append(await _send(producer, row))
            if index % _SENDS_BETWEEN_YIELDS == 0:
                # A send rarely yields to the event loop; a backlog of hundreds would hold up the
                # service's calls for the whole batch (measured: 300 ms after a burst) without this.
                await asyncio.sleep(0)
        return list(await asyncio.gather(*deliveries))


async def _send(producer: AIOKafkaProducer, row: _Row) -> asyncio.Future[RecordMetadata]:
    """Queue one row; a sampled trace gets a producer span, an unsampled one travels on as it was written."""
    envelope = EventEnvelope.FromString(row.envelope)
    key = row.key.encode()
    delivery: asyncio.Future[RecordMetadata]
    if not is_sampled([("traceparent", envelope.traceparent.encode())]):
        delivery = await producer.send(row.topic, row.envelope, key=key, headers=kafka_headers(envelope))
        return delivery
    with publishing(row.topic, envelope.traceparent) as traceparent:
        delivery = await producer.send(row.topic, row.envelope, key=key, headers=kafka_headers(envelope, traceparent))
    return delivery
