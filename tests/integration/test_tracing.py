"""Traces: one from a gRPC call through the outbox and a real Kafka hop into rewards and tickets; client spans;
the status of server spans."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace

import asyncpg
import grpc
import pytest
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.client import money, record_purchase_request
from services.common.events import decode, header
from services.common.grpc_server import GrpcServer
from services.common.kafka import POINTS_EVENTS_TOPIC, PURCHASES_TOPIC
from services.common.member_tiers import member_tiers_consumer
from services.common.outbox import OutboxRelay
from services.common.settings import GrpcTlsSettings, KafkaSettings, service_settings
from services.common.tls import grpc_channel
from services.points.main import build
from services.tickets.claims import NOT_CREDITED, CreditLookup
from services.tickets.domain import Claim
from tests.integration.support import PoolFactory, eventually, read_topic, run_cli, running, set_read_only

CONSUMERS = ("rewards.member-tiers", "tickets.member-tiers")


@pytest.fixture
async def points(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[str]:
    """The points gRPC server, its outbox relay, and the rewards and tickets tier consumers; yields the address."""
    _, pool = await migrated_pool("points")
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    consumers = []
    for service in ("rewards", "tickets"):
        _, service_pool = await migrated_pool(service)
        own = replace(service_settings(service, {}), kafka=kafka_settings)
        consumers.append(member_tiers_consumer(own, service_pool))
    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05)
    try:
        async with running(relay.run, *(c.run for c in consumers)):
            yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(grace=1)


def _of_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def _children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _only(spans: Sequence[ReadableSpan], kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, f"expected one {kind.name} span {name!r}, got {[s.name for s in spans]}"
    return found[0]


async def _call_trace(exporter: InMemorySpanExporter, method: str) -> list[ReadableSpan]:
    """The spans of the trace the client span of `method` started, once both consumers processed its event."""
    client = _only(exporter.get_finished_spans(), SpanKind.CLIENT, f"/loyalty.points.v1.PointsService/{method}")
    assert client.context is not None and client.parent is None

    async def consumed_by_both() -> list[ReadableSpan]:
        spans = _of_trace(exporter.get_finished_spans(), client.context.trace_id)
        groups = {s.attributes.get("messaging.consumer.group.name") for s in spans if s.kind == SpanKind.CONSUMER}
        return spans if groups >= set(CONSUMERS) else []

    return await eventually(consumed_by_both, what=f"both consumers to process the event {method} wrote")


async def test_a_purchase_is_one_trace_from_the_rpc_through_kafka_into_rewards_and_tickets(
    points: str, spans: InMemorySpanExporter
) -> None:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    async with grpc_channel(points, GrpcTlsSettings()) as channel:
        stub = points_pb2_grpc.PointsServiceStub(channel)
        await stub.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
        enrollment = await _call_trace(spans, "EnrollMember")
        spans.clear()
        await stub.RecordPurchase(record_purchase_request(member_id, money("42.00", "USD")))
        purchase = await _call_trace(spans, "RecordPurchase")

    client = _only(purchase, SpanKind.CLIENT, "/loyalty.points.v1.PointsService/RecordPurchase")
    server = _only(_children(purchase, client), SpanKind.SERVER, "/loyalty.points.v1.PointsService/RecordPurchase")
    below_server = _children(purchase, server)
    assert any(s.kind == SpanKind.CLIENT and s.attributes.get("db.system") == "postgresql" for s in below_server), (
        "the purchase's queries are database spans of the RPC"
    )
    # One PointsEarned (no bonus applies): the relay publishes it under the RPC's context ...
    publish = _only(below_server, SpanKind.PRODUCER, f"{POINTS_EVENTS_TOPIC} publish")
    # ... and each service processes it under the publish span, across the broker.
    processed = _children(purchase, publish)
    assert sorted(s.attributes.get("messaging.consumer.group.name") for s in processed) == sorted(CONSUMERS)
    assert all(s.kind == SpanKind.CONSUMER and s.name == f"{POINTS_EVENTS_TOPIC} process" for s in processed)

    # A consumer that applies the event (MemberEnrolled sets the tier view) queries under its consumer span.
    enrolled_publish = _only(enrollment, SpanKind.PRODUCER, f"{POINTS_EVENTS_TOPIC} publish")
    for consumed in _children(enrollment, enrolled_publish):
        assert any(s.attributes.get("db.system") == "postgresql" for s in _children(enrollment, consumed))


async def test_a_service_calling_another_makes_a_client_span_the_server_span_hangs_under(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings, spans: InMemorySpanExporter
) -> None:
    _, pool = await migrated_pool("points")
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations)
    await server.start()
    lookup = CreditLookup(f"127.0.0.1:{server.port}")  # how tickets asks points about a claim
    try:
        assert (await lookup.check(Claim(f"order-{uuid.uuid4().hex[:8]}", "", "", 0), "m-1")).status == NOT_CREDITED
    finally:
        await lookup.close()
        await server.stop(grace=1)
    finished = spans.get_finished_spans()
    method = "/loyalty.points.v1.CreditLookupService/FindCredit"
    client = _only(finished, SpanKind.CLIENT, method)
    assert _only(_children(finished, client), SpanKind.SERVER, method)


async def test_a_purchase_the_cli_publishes_to_kafka_carries_its_producer_span(
    kafka_settings: KafkaSettings, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", kafka_settings.bootstrap)
    monkeypatch.setenv("LOYALTY_KAFKA_IDEMPOTENCE", "false")
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    assert await run_cli("purchase", member_id, "12.50", "--via", "kafka") == 0

    async def published() -> list[str]:
        records = await read_topic(kafka_settings, PURCHASES_TOPIC, 1, settle=0.5)
        mine = [r for r in records if r.key == member_id.encode()]
        return [header(r.headers, "traceparent") or "" for r in mine] + [
            decode(r.value, r.headers)[0].traceparent for r in mine
        ]

    traceparent, in_envelope = await eventually(published, what=f"the CLI's purchase of {member_id}")
    producer = _only(spans.get_finished_spans(), SpanKind.PRODUCER, f"{PURCHASES_TOPIC} publish")
    assert producer.context is not None
    assert traceparent == in_envelope
    assert traceparent.startswith(f"00-{producer.context.trace_id:032x}-{producer.context.span_id:016x}-")


PointsCall = Callable[[points_pb2_grpc.PointsServiceStub], Awaitable[object]]


async def _server_span_of(exporter: InMemorySpanExporter, address: str, method: str, call: PointsCall) -> ReadableSpan:
    """The server span of `call` to the points server at `address`, whatever the call answered."""
    exporter.clear()
    async with grpc_channel(address, GrpcTlsSettings()) as channel:
        with contextlib.suppress(grpc.aio.AioRpcError):  # the span says how it ended
            await call(points_pb2_grpc.PointsServiceStub(channel))

    async def finished() -> list[ReadableSpan]:  # the server may end its span after the client has its answer
        return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]

    return _only(await eventually(finished, what=f"the server span of {method}"), SpanKind.SERVER, method)


def _unknown_member_balance(stub: points_pb2_grpc.PointsServiceStub) -> Awaitable[object]:
    return stub.GetBalance(pb.GetBalanceRequest(member_id=f"m-{uuid.uuid4().hex[:8]}"))


def _enrollment(member_id: str) -> PointsCall:
    return lambda stub: stub.EnrollMember(pb.EnrollMemberRequest(member_id=member_id), timeout=1)


@pytest.mark.parametrize(
    ("method", "call", "code"),
    [
        ("EnrollMember", _enrollment(f"m-{uuid.uuid4().hex[:8]}"), grpc.StatusCode.OK),
        ("EnrollMember", _enrollment("not a member id"), grpc.StatusCode.INVALID_ARGUMENT),
        ("GetBalance", _unknown_member_balance, grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_a_server_span_carries_the_code_of_its_answer_and_a_refusal_is_not_the_servers_error(
    points_address: str, spans: InMemorySpanExporter, method: str, call: PointsCall, code: grpc.StatusCode
) -> None:
    """The caller's mistakes leave the status unset, as OpenTelemetry's conventions for gRPC servers ask.

    Every server span said 0: the error mapping aborts with google.rpc details, which OpenTelemetry's interceptor
    does not see."""
    span = await _server_span_of(spans, points_address, f"/loyalty.points.v1.PointsService/{method}", call)
    assert span.attributes is not None and span.attributes["rpc.grpc.status_code"] == code.value[0]
    assert span.status.status_code == StatusCode.UNSET


async def test_a_call_met_by_a_database_outage_is_an_error_of_its_server_span(
    points_address: str, pool: asyncpg.Pool, postgres_admin_url: str, spans: InMemorySpanExporter
) -> None:
    method = "/loyalty.points.v1.PointsService/EnrollMember"
    await set_read_only(postgres_admin_url, pool, True)
    try:
        span = await _server_span_of(spans, points_address, method, _enrollment(f"m-{uuid.uuid4().hex[:8]}"))
    finally:
        await set_read_only(postgres_admin_url, pool, False)
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith("UNAVAILABLE: the database")


async def test_a_call_past_its_deadline_is_an_error_of_its_server_span(
    points_address: str, pool: asyncpg.Pool, spans: InMemorySpanExporter
) -> None:
    method = "/loyalty.points.v1.PointsService/EnrollMember"
    async with pool.acquire() as blocker, blocker.transaction():
        # The enrollment waits on the lock until its deadline passes.
        await blocker.execute("LOCK TABLE members IN ACCESS EXCLUSIVE MODE")
        span = await _server_span_of(spans, points_address, method, _enrollment(f"m-{uuid.uuid4().hex[:8]}"))
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert span.status.status_code == StatusCode.ERROR
