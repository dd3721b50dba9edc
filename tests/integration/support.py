"""Plain helpers for the integration tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from google.rpc import error_details_pb2, status_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services import cli
from services.common.embedded import spawn
from services.common.events import kafka_headers
from services.common.member_tiers import member_tiers_consumer
from services.common.settings import KafkaSettings, service_settings

T = TypeVar("T")
DEADLINE = 30.0
STOP_LIMIT_S = 60.0


class PoolFactory(Protocol):
    async def __call__(self, service: str = "points") -> tuple[str, asyncpg.Pool]: ...


class TopicFactory(Protocol):
    async def __call__(self, prefix: str = "test") -> str: ...


class DeadLettersSentOrNot:
    """A dead-letter producer whose sends fail (the process dies before the broker acknowledges) or are kept."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.reasons: list[str] = []

    async def send(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        if self.fail:
            raise ConnectionError("the process died before the dead letter was acknowledged")
        self.reasons.append(dict(headers)["dlq-reason"].decode())


def delivered_record(
    topic: str, offset: int, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> ConsumerRecord[bytes, bytes]:
    """A message as a consumer reads it from partition 0 of `topic`, for driving `process` without a broker."""
    return ConsumerRecord(topic, 0, offset, 1_765_000_000_000 + offset, 0, key, value, None, 1, len(value), headers)


def delivered_event(topic: str, envelope: EventEnvelope, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    """An event envelope as delivered, keyed by its subject, with the headers its producer sets."""
    value = envelope.SerializeToString()
    return delivered_record(topic, offset, envelope.subject.encode(), value, kafka_headers(envelope))


async def run_cli(*argv: str) -> int:
    """`loyalty ARGV...` in-process; the commands run their own event loop, so they go to a thread."""
    return await asyncio.to_thread(cli.main, list(argv))


async def code_of(call: Any) -> grpc.StatusCode:
    """The status code a call ended with, OK included."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations an INVALID_ARGUMENT carries, by field."""
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(details, bytes), "INVALID_ARGUMENT must carry google.rpc.Status details"
    bad_request = error_details_pb2.BadRequest()
    assert status_pb2.Status.FromString(details).details[0].Unpack(bad_request)
    return {v.field: v.description for v in bad_request.field_violations}


async def eventually(check: Callable[[], Awaitable[T]], *, within: float = DEADLINE, what: str = "") -> T:
    """Poll `check` until it returns a truthy value; fail naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.1)


async def set_read_only(admin_url: str, pool: asyncpg.Pool, read_only: bool) -> None:
    """`pool`'s database takes writes or not, as when a failover's DNS still names the old primary, now a standby.

    Its sessions are cut so that they reconnect to the server as it now is, and the pool opens new ones rather
    than meet a cut one (what a cut session does is tested apart).
    """
    database = await pool.fetchval("SELECT current_database()")
    admin = await asyncpg.connect(admin_url)
    try:
        value = "on" if read_only else "off"
        await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {value}')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await admin.close()
    await pool.expire_connections()


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    count: int,
    *,
    within: float = DEADLINE,
    settle: float = 0.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of `topic` from the beginning, once at least `count` arrived.

    With `settle` > 0 it keeps reading that long after reaching `count`, so that
    unexpected extra records (duplicates) show up in the result too.
    """
    consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = await eventually(lambda: _partitions(consumer, topic), within=within, what=f"metadata of {topic}")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle_until: float | None = None
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
            now = loop.time()
            if len(records) >= count:
                settle_until = settle_until or now + settle
                if now >= settle_until:
                    return records
            elif now > deadline:
                raise AssertionError(f"{topic}: {len(records)} of {count} records after {within}s")
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic may be brand new
    return consumer.partitions_for_topic(topic) or set()


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


@contextlib.asynccontextmanager
async def running(*workers: Callable[[], Coroutine[Any, Any, Any]]) -> AsyncIterator[Sequence[asyncio.Task[Any]]]:
    """Run background workers (relay, consumers) for the block; cancel them after, surface crashes."""
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(worker()) for worker in workers]
    try:
        yield tasks
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"worker crashed: {task.exception()!r}")
    finally:
        for task in tasks:
            task.cancel()
        # Bounded: a worker that does not end when cancelled would otherwise hang the test until pytest-timeout,
        # which shows no task's stack. Seen once in CI (the goodwill consumer's test): these stacks say where.
        ended, stuck = await asyncio.wait(tasks, timeout=STOP_LIMIT_S)
        for task in ended:
            if not task.cancelled():
                task.exception()  # retrieved: a crash was reported above, if the block got that far
        for task in stuck:
            task.print_stack()
        if stuck:
            raise AssertionError(f"{len(stuck)} worker(s) still running {STOP_LIMIT_S}s after being cancelled")


def serve(
    service: str,
    database_url: str,
    port: int,
    kafka: KafkaSettings,
    data_dir: Path,
    more_env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`loyalty serve <service>` as its own process on `port`, logging to `data_dir`/<service>.log; `more_env` adds
    to or overrides its environment."""
    prefix = f"LOYALTY_{service.upper()}_"
    env = os.environ | {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}GRPC_PORT": str(port),
        f"{prefix}METRICS_PORT": "0",
        "LOYALTY_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LOYALTY_KAFKA_IDEMPOTENCE": "false",
        "LOYALTY_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "services.cli", "serve", service]
    return spawn(command, data_dir / f"{service}.log", env | dict(more_env or {}))


async def started(process: subprocess.Popen[bytes], log_path: Path, what: str) -> None:
    """Once `process`, a `loyalty serve` logging to `log_path`, logged that it started, or ended."""

    async def started_or_ended() -> bool:
        return process.poll() is not None or '"service started"' in await asyncio.to_thread(log_path.read_text)

    await eventually(started_or_ended, within=60, what=f"{what} to start")


async def deliver_member_closed(
    points_pool: asyncpg.Pool,
    service: str,
    service_pool: asyncpg.Pool,
    member_id: str,
    *,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
) -> None:
    """The MemberClosed points wrote for `member_id`, consumed by `service`'s member view (member_closures)."""
    row = await points_pool.fetchrow(
        """SELECT message_key, envelope FROM outbox
            WHERE event_type = 'loyalty.events.v1.MemberClosed' AND message_key = $1""",
        member_id,
    )
    envelope = EventEnvelope.FromString(row["envelope"])
    # Its own topic: the session's points topic carries other tests' events, malformed ones among them.
    topic = await fresh_topic("points-events")
    await producer.send_and_wait(
        topic, row["envelope"], key=row["message_key"].encode(), headers=kafka_headers(envelope)
    )
    settings = replace(service_settings(service, {}), kafka=kafka_settings)
    consumer = member_tiers_consumer(settings, service_pool, topic)

    async def consumed() -> bool:
        sql = "SELECT count(*) FROM member_closures WHERE member_id = $1"
        return bool(await service_pool.fetchval(sql, member_id))

    async with running(consumer.run):
        await eventually(consumed, what="the MemberClosed to be consumed")
