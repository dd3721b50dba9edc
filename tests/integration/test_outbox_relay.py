"""The outbox relay against real PostgreSQL and the embedded broker: order, envelopes, retention."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.db import unit_of_work
from services.common.errors import ResourceExhausted
from services.common.events import PROTOBUF, decode, new_envelope
from services.common.outbox import MAX_EVENT_BYTES, OutboxRelay, add_event, add_events
from services.common.settings import KafkaSettings
from tests.integration.support import PoolFactory, TopicFactory, eventually, header, read_topic, running


def earned(member_id: str, sequence: int) -> EventEnvelope:
    payload = events.PointsEarned(member_id=member_id, points=sequence, balance_after=sequence, reason="test")
    return new_envelope(payload, subject=member_id, source="tests", occurred_at=datetime.now(UTC))


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox_pending"))


async def all_published(pool: asyncpg.Pool) -> bool:
    return await unpublished(pool) == 0


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    # Its own database: a relay publishes every row of the outbox it serves.
    _, pool = await migrated_pool("points")
    return pool


async def test_relay_publishes_in_order_per_key_and_marks_acknowledged_rows(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay")
    members = [f"member-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    written: list[EventEnvelope] = []
    # Interleaved across keys, some transactions with several events.
    for round_ in range(8):
        async with unit_of_work(pool) as connection:
            for member_id in members:
                envelope = earned(member_id, round_)
                await add_event(connection, topic, envelope)
                written.append(envelope)
    assert await unpublished(pool) == len(written)

    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05)
    async with running(relay.run):
        await eventually(lambda: all_published(pool), what="every row to be published")
        records = await read_topic(kafka_settings, topic, len(written), settle=1.0)

    assert relay.published == len(written)
    assert len(records) == len(written)  # each row once: no duplicates on a healthy broker
    # The relay remembers the highest acknowledged offset of each partition it wrote to.
    highest: dict[int, int] = {}
    for record in records:
        highest[record.partition] = max(highest.get(record.partition, -1), record.offset)
    offsets = await pool.fetch("SELECT partition, last_offset FROM outbox_partition_offsets WHERE topic = $1", topic)
    assert {r["partition"]: r["last_offset"] for r in offsets} == highest
    by_key: dict[str, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        envelope, payload = decode(record.value, list(record.headers))
        assert record.key.decode() == envelope.subject
        assert isinstance(payload, events.PointsEarned)
        assert payload.member_id == envelope.subject
        assert header(record, "ce_type") == "loyalty.events.v1.PointsEarned"
        assert header(record, "ce_id") == envelope.event_id
        assert header(record, "content-type") == PROTOBUF
        by_key[envelope.subject].append(envelope.event_id)
    for member_id in members:
        expected = [e.event_id for e in written if e.subject == member_id]
        assert by_key[member_id] == expected, f"{member_id} events out of order"
    sent = {e.event_id: e for e in written}
    for record in records:
        envelope, _ = decode(record.value, list(record.headers))
        assert envelope == sent[envelope.event_id]


async def test_the_relay_vacuums_the_pending_list_it_deletes_from(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay-vacuum")
    async with unit_of_work(pool) as connection:
        for sequence in range(40):
            await add_event(connection, topic, earned("member-vacuum", sequence))

    async def vacuums() -> int:
        return int(await pool.fetchval("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox_pending'"))

    before = await vacuums()
    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05, vacuum_pending_after=30)
    async with running(relay.run):
        await eventually(lambda: all_published(pool), what="every row to be published")
        # Statistics reach the view within a second or so of the vacuum.
        await eventually(lambda: _more(vacuums, before), what="the relay to vacuum outbox_pending")


async def _more(count: Callable[[], Awaitable[int]], than: int) -> bool:
    return await count() > than


async def test_relay_picks_up_events_committed_while_it_runs(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay-live")
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    relay = OutboxRelay(pool, kafka_settings, poll_interval=5.0)  # relies on NOTIFY, not polling
    async with running(relay.run):
        sent = []
        for sequence in range(20):
            async with unit_of_work(pool) as connection:
                envelope = earned(member_id, sequence)
                await add_event(connection, topic, envelope)
                sent.append(envelope.event_id)
        records = await read_topic(kafka_settings, topic, len(sent))
        await eventually(lambda: all_published(pool), what="every row to be published")
    received = [decode(r.value, list(r.headers))[0].event_id for r in sorted(records, key=lambda r: r.offset)]
    assert received == sent


async def test_rolled_back_events_are_never_published(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay-rollback")
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    ghost = earned(member_id, 1)
    with pytest.raises(RuntimeError):
        async with unit_of_work(pool) as connection:
            await add_event(connection, topic, ghost)
            raise RuntimeError("the state change failed")
    real = earned(member_id, 2)
    async with unit_of_work(pool) as connection:
        await add_event(connection, topic, real)
    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05)
    async with running(relay.run):
        await eventually(lambda: all_published(pool), what="every row to be published")
        records = await read_topic(kafka_settings, topic, 1, settle=1.0)
    assert [decode(r.value, [])[0].event_id for r in records] == [real.event_id]


@pytest.mark.parametrize("write", [add_event, lambda c, t, e: add_events(c, t, [e])])
async def test_an_event_too_large_to_publish_is_refused_with_the_change_that_makes_it(
    pool: asyncpg.Pool, write: Callable[[asyncpg.Connection, str, EventEnvelope], Awaitable[None]]
) -> None:
    """Written, it could never be published, and the relay would hold up every event behind it for ever."""
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    huge = new_envelope(
        events.PointsEarned(member_id=member_id, points=1, reason="x" * MAX_EVENT_BYTES),
        subject=member_id,
        source="tests",
        occurred_at=datetime.now(UTC),
    )
    with pytest.raises(ResourceExhausted, match="PointsEarned event would be"):
        async with unit_of_work(pool) as connection:
            await connection.execute("CREATE TABLE state_change (id int)")
            await write(connection, "relay-huge", huge)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await pool.fetchval("SELECT to_regclass('state_change')") is None  # the change went with it


async def test_two_relays_on_one_database_publish_each_row_once_in_order(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay-pair")
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    first, second = (OutboxRelay(pool, kafka_settings, poll_interval=0.05) for _ in range(2))
    sent = []
    async with running(first.run, second.run):
        for sequence in range(30):
            async with unit_of_work(pool) as connection:
                envelope = earned(member_id, sequence)
                await add_event(connection, topic, envelope)
                sent.append(envelope.event_id)
        await eventually(lambda: all_published(pool), what="every row to be published")
        records = await read_topic(kafka_settings, topic, len(sent), settle=1.0)
    assert first.published + second.published == len(sent)
    assert 0 in (first.published, second.published)  # only the lock holder publishes
    received = [decode(r.value, [])[0].event_id for r in sorted(records, key=lambda r: r.offset)]
    assert received == sent


async def test_published_rows_are_forgotten_after_the_retention_period(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, fresh_topic: TopicFactory
) -> None:
    topic = await fresh_topic("relay-retention")
    member_id = f"member-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(pool) as connection:
        for sequence in range(3):
            await add_event(connection, topic, earned(member_id, sequence))
    keeper = OutboxRelay(pool, kafka_settings, poll_interval=0.05, retention=timedelta(hours=1))
    async with running(keeper.run):
        await eventually(lambda: all_published(pool), what="every row to be published")
    # Kept (for replay to a broker that lost its log) while within the retention period.
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 3

    pending = earned(member_id, 99)
    async with unit_of_work(pool) as connection:
        await add_event(connection, topic, pending)
    forgetter = OutboxRelay(pool, kafka_settings, poll_interval=0.05, retention=timedelta(0))
    async with running(forgetter.run):
        await eventually(lambda: all_published(pool), what="the new row to be published")
        # The relay forgets before it publishes: the old published rows went, and the row
        # that was still unpublished then stayed, however old it was.
        remaining = await pool.fetch("SELECT event_id FROM outbox")
    assert [str(r["event_id"]) for r in remaining] == [pending.event_id]
    records = await read_topic(kafka_settings, topic, 4, settle=0.5)
    assert len(records) == 4
