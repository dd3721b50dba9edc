"""The Prometheus endpoint scraped over HTTP after real calls, events and outbox rows."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import partners_pb2, partners_pb2_grpc, points_pb2_grpc
from loyalty.points.v1 import points_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from services.client import money, record_purchase_request
from services.common.event_consumer import EventConsumer
from services.common.events import event_types_of, kafka_headers, new_envelope, timestamp
from services.common.grpc_server import GrpcServer
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.metrics import OUTBOX_GAUGES, POINTS_GAUGES, RPC_HANDLED, MetricsEndpoint, SampledGauge
from services.common.outbox import OutboxRelay
from services.common.rpc_outcome import RpcOutcomeInterceptor
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build
from tests.integration.support import PoolFactory, TopicFactory, eventually, running

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
RECORD_PURCHASE = "/loyalty.points.v1.PointsService/RecordPurchase"
GET_BALANCE = "/loyalty.points.v1.PointsService/GetBalance"
STREAM_ACCRUALS = "/loyalty.points.v1.PartnerAccrualService/StreamAccruals"


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    async def __call__(self) -> Samples:
        # Off the loop: the endpoint samples the database gauges on this very loop.
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(self.url, timeout=10).read().decode())
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample that must be there."""
    return samples[(name, frozenset(labels.items()))]


def count(samples: Samples, name: str, **labels: str) -> float:
    """A counter's sample, 0 before its first increment."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - count(before, name, **labels)


async def _when(scrape: Scraper, holds: Callable[[Samples], bool]) -> Samples | None:
    samples = await scrape()
    return samples if holds(samples) else None


@pytest.fixture
async def points(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    _, pool = await migrated_pool("points")
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}", pool
    finally:
        await server.stop(grace=1)


@pytest.fixture
async def scrape(points: tuple[str, asyncpg.Pool]) -> AsyncIterator[Scraper]:
    async with scraping(points[1], [*OUTBOX_GAUGES, *POINTS_GAUGES]) as scraper:
        yield scraper


@asynccontextmanager
async def scraping(pool: asyncpg.Pool, gauges: Sequence[SampledGauge]) -> AsyncIterator[Scraper]:
    """A metrics endpoint sampling `gauges` from `pool` for the block, and its scraper."""
    endpoint = MetricsEndpoint(pool, gauges)
    port = endpoint.start("127.0.0.1", 0)
    try:
        yield Scraper(port)
    finally:
        endpoint.stop()


async def test_rpcs_ledger_entries_holds_and_the_outbox_are_scraped(
    points: tuple[str, asyncpg.Pool], scrape: Scraper, kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.common.grpc_server")
    address, pool = points
    before = await scrape()
    assert value(before, "loyalty_outbox_backlog_rows") == 0
    assert value(before, "loyalty_outbox_oldest_age_seconds") == 0
    assert value(before, "loyalty_points_holds_pending") == 0
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = points_pb2_grpc.PointsServiceStub(channel)
        await stub.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
        for _ in range(2):
            await stub.RecordPurchase(record_purchase_request(member_id, money("10.00", "USD")))
        await stub.HoldPoints(
            pb.HoldPointsRequest(member_id=member_id, points=5, idempotency_key="hold-1", ttl=Duration(seconds=3600))
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetBalance(pb.GetBalanceRequest(member_id="nobody"))

    # A refused call is in the log too, with its method and status: findable, not only counted.
    refused = [r for r in caplog.records if r.getMessage() == "call refused"]
    assert [(r.method, r.code) for r in refused] == [(GET_BALANCE, "NOT_FOUND")]  # type: ignore[attr-defined]
    after = await scrape()
    handled = "loyalty_rpc_server_handled_total"
    assert delta(before, after, handled, method=RECORD_PURCHASE, code="OK") == 2
    assert delta(before, after, handled, method=GET_BALANCE, code="NOT_FOUND") == 1
    latency = "loyalty_rpc_server_duration_seconds"
    assert delta(before, after, f"{latency}_count", method=RECORD_PURCHASE, code="OK") == 2
    assert delta(before, after, f"{latency}_sum", method=RECORD_PURCHASE, code="OK") > 0
    assert delta(before, after, f"{latency}_bucket", method=RECORD_PURCHASE, code="OK", le="+Inf") == 2
    assert delta(before, after, "loyalty_points_ledger_entries_written_total", kind="purchase_earn") == 2
    assert value(after, "loyalty_points_holds_pending") == 1
    # Enrolment and each purchase wrote an event; no relay runs yet.
    backlog = await pool.fetchval("SELECT count(*) FROM outbox_pending")
    assert backlog >= 3
    assert value(after, "loyalty_outbox_backlog_rows") == backlog
    assert value(after, "loyalty_outbox_oldest_age_seconds") > 0

    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05)
    async with running(relay.run):
        drained = await eventually(
            lambda: _when(scrape, lambda s: value(s, "loyalty_outbox_backlog_rows") == 0), what="the outbox to drain"
        )
    assert value(drained, "loyalty_outbox_oldest_age_seconds") == 0


async def test_the_database_pool_is_scraped_in_use_idle_and_its_maximum(
    points: tuple[str, asyncpg.Pool], scrape: Scraper
) -> None:
    _, pool = points
    async with pool.acquire(), pool.acquire():
        held = await scrape()
    assert value(held, "loyalty_db_pool_connections", state="in_use") == 2
    assert value(held, "loyalty_db_pool_max_connections") == pool.get_max_size()
    released = await scrape()
    assert value(released, "loyalty_db_pool_connections", state="in_use") == 0
    assert value(released, "loyalty_db_pool_connections", state="idle") == pool.get_size() >= 2


async def test_calls_the_client_gave_up_on_are_cancelled_or_past_deadline_not_unknown(
    points: tuple[str, asyncpg.Pool], scrape: Scraper
) -> None:
    address, _ = points
    before = await scrape()
    async with grpc.aio.insecure_channel(address) as channel:
        admin = partners_pb2_grpc.PartnerServiceStub(channel)
        partner_id = f"p-{uuid.uuid4().hex[:8]}"
        await admin.RegisterPartner(
            partners_pb2.RegisterPartnerRequest(
                partner_id=partner_id, name="Air", kind=partners_pb2.PARTNER_KIND_AIRLINE
            )
        )
        key = (
            await admin.IssuePartnerCredential(partners_pb2.IssuePartnerCredentialRequest(partner_id=partner_id))
        ).api_key
        intake = partners_pb2_grpc.PartnerAccrualServiceStub(channel)

        async def one_batch_then_nothing() -> AsyncIterator[partners_pb2.AccrualBatch]:
            # Its answer shows the handler under way: given up before, a call never reaches it (a slow machine).
            yield partners_pb2.AccrualBatch(records=[partners_pb2.AccrualRecord(partner_transaction_id="t1")])
            await asyncio.Event().wait()

        metadata = (("authorization", f"Bearer {key}"),)
        cancelled = intake.StreamAccruals(one_batch_then_nothing(), metadata=metadata)
        await cancelled.read()
        cancelled.cancel()
        expiring = intake.StreamAccruals(one_batch_then_nothing(), metadata=metadata, timeout=5)
        await expiring.read()
        with pytest.raises(grpc.aio.AioRpcError):
            await expiring.read()  # the deadline passes while the handler waits for the next batch

    handled = "loyalty_rpc_server_handled_total"

    def counted(samples: Samples) -> tuple[float, float, float]:
        return tuple(  # type: ignore[return-value]
            count(samples, handled, method=STREAM_ACCRUALS, code=code)
            - count(before, handled, method=STREAM_ACCRUALS, code=code)
            for code in ("CANCELLED", "DEADLINE_EXCEEDED", "UNKNOWN")
        )

    def both_given_up(samples: Samples) -> bool:
        cancelled, past_deadline, unknown = counted(samples)
        # The expiring call counts DEADLINE_EXCEEDED, or CANCELLED when the client, whose deadline passes first,
        # cancels it before the server's own deadline (set when the call arrived, later on a loaded machine) passes.
        return (cancelled + past_deadline, unknown) == (2, 0) and cancelled >= 1

    async def given_up() -> bool:
        samples = await scrape()
        seen.append(counted(samples))
        return both_given_up(samples)

    seen: list[tuple[float, float, float]] = []
    try:
        await eventually(given_up, what="both calls counted")
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; (cancelled, past deadline, unknown) seen last: {seen[-1:]}") from None


def _enrolments_consumer(
    name: str,
    topic: str,
    pool: asyncpg.Pool,
    kafka_settings: KafkaSettings,
    handle: Callable[[asyncpg.Connection, EventEnvelope, Message], Awaitable[None]],
) -> EventConsumer:
    """A consumer of MemberEnrolled on `topic`, which stands in for the points events."""
    kind = events.MemberEnrolled.DESCRIPTOR.full_name
    carries = event_types_of(POINTS_EVENTS_TOPIC)
    return EventConsumer(
        name=name, topic=topic, pool=pool, kafka=kafka_settings, handlers={kind: handle}, carries=carries
    )


async def _send_enrolments(producer: AIOKafkaProducer, topic: str, members: list[str]) -> None:
    for member in members:
        payload = events.MemberEnrolled(enrolled_at=timestamp(datetime.now(UTC)), tier="member", member_id=member)
        envelope = new_envelope(payload, subject=member, source="test", occurred_at=datetime.now(UTC))
        await producer.send_and_wait(
            topic, envelope.SerializeToString(), key=member.encode(), headers=kafka_headers(envelope)
        )


async def test_consumer_lag_processing_time_and_dead_letters_are_scraped(
    scrape: Scraper,
    migrated_pool: PoolFactory,
    kafka_settings: KafkaSettings,
    fresh_topic: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    topic = await fresh_topic("metrics")
    _, pool = await migrated_pool("rewards")
    seen: list[str] = []

    async def handle(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        seen.append(envelope.event_id)

    name = f"metrics-{uuid.uuid4().hex[:8]}"
    consumer = _enrolments_consumer(name, topic, pool, kafka_settings, handle)
    await _send_enrolments(producer, topic, ["a", "b", "c"])
    await producer.send_and_wait(topic, b"not an envelope", key=b"k")

    labels = {"consumer": name, "topic": topic}

    def lags(samples: Samples) -> list[float]:
        return [
            v
            for (metric, sample_labels), v in samples.items()
            if metric == "loyalty_consumer_lag_messages" and {*labels.items()} <= sample_labels
        ]

    def caught_up(samples: Samples) -> bool:
        dead_lettered = count(samples, "loyalty_consumer_dead_lettered_total", **labels) == 1
        return dead_lettered and bool(lags(samples)) and not any(lags(samples))

    async with running(consumer.run):
        samples = await eventually(lambda: _when(scrape, caught_up), what="all four messages to be processed")
    assert value(samples, "loyalty_consumer_applied_total", **labels) == 3
    assert value(samples, "loyalty_consumer_batch_duration_seconds_count", **labels) >= 1
    assert value(samples, "loyalty_consumer_batch_duration_seconds_sum", **labels) > 0
    assert len(seen) == 3


async def test_consumer_lag_grows_while_its_database_refuses_every_batch(
    scrape: Scraper,
    migrated_pool: PoolFactory,
    kafka_settings: KafkaSettings,
    fresh_topic: TopicFactory,
    producer: AIOKafkaProducer,
) -> None:
    """The alert on growing lag must fire during an outage: the batch retries, and events keep arriving."""
    topic = await fresh_topic("metrics-stalled")
    url, pool = await migrated_pool("rewards")
    database = url.rsplit("/", 1)[-1]
    name = f"stalled-{uuid.uuid4().hex[:8]}"

    async def handle(connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message) -> None:
        return None

    consumer = _enrolments_consumer(name, topic, pool, kafka_settings, handle)

    member = uuid.uuid4().hex  # one member: keyed alike, on one partition, so the lag is that partition's

    async def send(count: int) -> None:
        await _send_enrolments(producer, topic, [member] * count)

    def lag(samples: Samples) -> float:
        return sum(
            v
            for (metric, sample_labels), v in samples.items()
            if metric == "loyalty_consumer_lag_messages" and ("consumer", name) in sample_labels
        )

    async def read_only(on: bool) -> None:
        # A real refusal by PostgreSQL, for every connection the pool opens from now on.
        admin = await asyncpg.connect(url)
        try:
            await admin.execute("SET default_transaction_read_only = off")
            await admin.execute(
                f"ALTER DATABASE {database} SET default_transaction_read_only = {'on' if on else 'off'}"
            )
        finally:
            await admin.close()
        await pool.expire_connections()

    await read_only(True)
    async with running(consumer.run):
        await send(3)
        await eventually(lambda: _when(scrape, lambda s: lag(s) >= 3), what="the stalled batch counted as lag")
        await send(5)
        await eventually(lambda: _when(scrape, lambda s: lag(s) >= 8), what="lag growing while the batch retries")
        await read_only(False)
        await eventually(lambda: _when(scrape, lambda s: lag(s) == 0), what="lag gone once the database writes")


async def test_a_handler_that_ends_well_after_the_deadline_counts_as_deadline_exceeded() -> None:
    # What a deadline does to a request stream is a race (the handler is cancelled, or reads the stream as
    # ended and returns); a handler busy without a pause until past the deadline returns, every time.
    async def outlive_the_deadline(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        time.sleep(0.3)  # noqa: ASYNC251 - holding the loop is the point: no cancellation can land
        return request

    method = "/loyalty.test.v1.Slow/Answer"
    server = grpc.aio.server(interceptors=[RpcOutcomeInterceptor()])
    handler = grpc.unary_unary_rpc_method_handler(outlive_the_deadline)
    service = grpc.method_handlers_generic_handler("loyalty.test.v1.Slow", {"Answer": handler})
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    before = {code: RPC_HANDLED.labels(method, code)._value.get() for code in ("OK", "DEADLINE_EXCEEDED")}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await channel.unary_unary(method)(b"hello", timeout=0.1)
            assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.sleep(0.4)  # the handler has ended
    finally:
        await server.stop(grace=1)
    after = {code: RPC_HANDLED.labels(method, code)._value.get() for code in ("OK", "DEADLINE_EXCEEDED")}
    assert (after["OK"] - before["OK"], after["DEADLINE_EXCEEDED"] - before["DEADLINE_EXCEEDED"]) == (0, 1)
