"""Traces: one from a gRPC call through the outbox and a real Kafka hop into rewards and tickets; client spans."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace

import pytest
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.client import money, record_purchase_request
from services.common.events import decode, header
from services.common.grpc_server import GrpcServer
from services.common.kafka import POINTS_EVENTS_TOPIC, PURCHASES_TOPIC
from services.common.member_tiers import member_tiers_consumer
from services.common.outbox import OutboxRelay
from services.common.settings import GrpcTlsSettings, KafkaSettings, service_settings
from services.common.tls import grpc_channel
from services.common.tracing import configure_tracing
from services.points.main import build
from services.tickets.claims import NOT_CREDITED, CreditLookup
from services.tickets.domain import Claim
from tests.integration.support import PoolFactory, eventually, read_topic, run_cli, running

CONSUMERS = ("rewards.member-tiers", "tickets.member-tiers")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test (the process's provider is the one services install)."""
    exporter = InMemorySpanExporter()
    configure_tracing("tests").add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # it keeps nothing more; the provider offers no way to remove a processor


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
