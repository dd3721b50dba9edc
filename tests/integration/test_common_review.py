"""Review of services/common: failures a production operator would meet, on real PostgreSQL and the broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import pytest

from services.common.consumer import EventConsumer
from services.common.kafka import dead_letter_topic
from services.common.settings import KafkaSettings
from tests.integration.support import PoolFactory, eventually, header, read_topic, running
from tests.integration.test_consumer import (
    PURCHASE_MADE,
    Send,
    consumer_options,
    effects_of,
    purchase_event,
    record_effect,
)
from tests.integration.test_consumer import send, topic  # noqa: F401  (fixtures)

# The pool's sessions land on a server that takes no writes: a failover whose DNS still names the old
# primary, now a standby, or a primary demoted for maintenance. It passes in seconds; the events must wait.
READ_ONLY = "ALTER DATABASE {db} SET default_transaction_read_only = {value}"
CUT_SESSIONS = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"


DATABASE_URL: dict[int, str] = {}


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    url, pool = await migrated_pool("rewards")
    await pool.execute(
        "CREATE TABLE effects (event_id text NOT NULL, purchase_id text NOT NULL, amount_minor smallint NOT NULL)"
    )
    DATABASE_URL[id(pool)] = url
    return pool


async def _set_read_only(pool: asyncpg.Pool, value: str) -> None:
    admin = await asyncpg.connect(DATABASE_URL[id(pool)])
    try:
        await admin.execute("SET default_transaction_read_only = off")  # this session is the operator's
        database = await admin.fetchval("SELECT current_database()")
        await admin.execute(READ_ONLY.format(db=f'"{database}"', value=value))
        await admin.execute(CUT_SESSIONS, database)  # the pool reconnects, to the server as it now is
    finally:
        await admin.close()


async def test_a_valid_event_met_by_a_read_only_database_waits_for_it_and_is_never_dead_lettered(
    pool: asyncpg.Pool,  # noqa: F811
    kafka_settings: KafkaSettings,
    topic: str,  # noqa: F811
    send: Callable[[str], Send],  # noqa: F811
) -> None:
    """A database that refuses writes for a few seconds is an outage, not the message's fault (consumer.py).

    `_RETRIED` (DATABASE_UNAVAILABLE) does not name ReadOnlySQLTransactionError (nor TooManyConnectionsError,
    QueryCanceledError...): the consumer counts it as a defect, and after three attempts (0.6 s) dead-letters
    a perfectly valid purchase, committing its offset. Its points are never credited.
    """
    consumer = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: record_effect})
    member = f"m-{uuid.uuid4().hex[:8]}"
    purchase = purchase_event(member)
    await send(member)(purchase)
    await _set_read_only(pool, "on")
    try:
        async with running(consumer.run):
            # The outage lasts at most a few seconds (or until the consumer has given the event up).
            loop = asyncio.get_running_loop()
            until = loop.time() + 8
            while loop.time() < until and consumer.dead_lettered == 0:
                await asyncio.sleep(0.2)
            await _set_read_only(pool, "off")
            if consumer.dead_lettered:
                [dead] = await read_topic(kafka_settings, dead_letter_topic(topic), 1)
                raise AssertionError(f"a valid event was dead-lettered: {header(dead, 'dlq-reason')}")
            await eventually(lambda: effects_of(pool, purchase.event_id), what="the purchase once writes resume")
    finally:
        await _set_read_only(pool, "off")
    assert consumer.dead_lettered == 0
