"""Partner accruals over Kafka follow the partner's traces: sampled records are linked from their batch's span, and
the PointsEarned of each record continues the trace its traceparent header names (unsampled ones make no span)."""

from __future__ import annotations

import random

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import OutboxRelay
from services.common.settings import KafkaSettings
from services.points.application import PointsApplication
from services.points.domain import Enrollment
from tests.integration.points_ledger_support import new_id
from tests.integration.support import DeadLettersSentOrNot, TopicFactory, delivered_record, eventually, running
from tests.integration.test_partner_accrual_consumer import balance_is, hotel, partner_consumer, partner_headers, stay


class Traceparent:
    """A partner's trace context as its producer sends it."""

    def __init__(self, *, sampled: bool) -> None:
        self.trace_id = random.getrandbits(128)
        self.span_id = random.getrandbits(64)
        self.header = f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if sampled else '00'}"


def batch_spans(spans: InMemorySpanExporter, topic: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER and s.name.startswith(topic)]


async def test_sampled_records_are_linked_from_their_batch_span_and_their_points_continue_their_traces(
    pool: asyncpg.Pool,
    app: PointsApplication,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    fresh_topic: TopicFactory,
    spans: InMemorySpanExporter,
) -> None:
    topic = await fresh_topic("partner")
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    sampled, unsampled, refused = Traceparent(sampled=True), Traceparent(sampled=False), Traceparent(sampled=True)
    for record, trace in ((stay("t1", member, "10"), sampled), (stay("t2", member, "5"), unsampled)):
        headers = [*partner_headers(partner_id, key), ("traceparent", trace.header.encode())]
        await producer.send_and_wait(topic, record.SerializeToString(), key=b"member", headers=headers)
    headers = [*partner_headers(partner_id, key), ("traceparent", refused.header.encode())]
    await producer.send_and_wait(topic, stay("t3", "ghost", "10").SerializeToString(), key=b"member", headers=headers)
    consumer = partner_consumer(pool, kafka_settings, topic)
    relay = OutboxRelay(pool, kafka_settings, poll_interval=0.05)

    async def published_in_the_partners_trace() -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.kind == SpanKind.PRODUCER and s.context is not None and s.context.trace_id == sampled.trace_id
        ]

    async def refused_dead_lettered() -> bool:
        return consumer.dead_lettered == 1

    async with running(consumer.run, relay.run):
        await eventually(lambda: balance_is(pool, member, 150), what="both stays credited")
        await eventually(refused_dead_lettered, what="the stay of no member dead-lettered")
        (publish,) = await eventually(published_in_the_partners_trace, what="the sampled stay's PointsEarned published")

    # Each PointsEarned is written in the trace of the record that earned it, sampled or not.
    rows = await pool.fetch("SELECT envelope, traceparent FROM outbox WHERE event_type LIKE '%.PointsEarned'")
    assert sorted(row["traceparent"] for row in rows) == sorted([sampled.header, unsampled.header])
    # The relay published the sampled one under the partner's own span: the partner's trace goes on in points.
    assert publish.name == f"{POINTS_EVENTS_TOPIC} publish"
    assert publish.parent is not None and publish.parent.span_id == sampled.span_id

    batches = batch_spans(spans, topic)
    assert batches, "a batch holding sampled records has a span"
    for batch in batches:
        assert batch.name == f"{topic} process" and batch.parent is None
        assert batch.attributes is not None
        assert batch.attributes["messaging.system"] == "kafka"
        assert batch.attributes["messaging.destination.name"] == topic
        assert batch.attributes["messaging.consumer.group.name"] == consumer.name
        assert batch.status.status_code != StatusCode.ERROR, "a refused record is the partner's, not a failure"
    linked = {(link.context.trace_id, link.context.span_id) for batch in batches for link in batch.links}
    assert linked == {(sampled.trace_id, sampled.span_id), (refused.trace_id, refused.span_id)}
    dead_lettered = [event for batch in batches for event in batch.events if event.name == "dead-lettered"]
    assert len(dead_lettered) == 1
    # The unsampled record costs no span: neither the batch's, nor the publish of its points.
    assert not [s for s in spans.get_finished_spans() if s.context and s.context.trace_id == unsampled.trace_id]


async def test_a_batch_of_records_in_unsampled_traces_makes_no_span(
    pool: asyncpg.Pool, app: PointsApplication, kafka_settings: KafkaSettings, spans: InMemorySpanExporter
) -> None:
    partner_id, key = await hotel(pool)
    member = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    consumer = partner_consumer(pool, kafka_settings, "partner.accruals.v1")
    records = [
        delivered_record(
            "partner.accruals.v1",
            offset,
            b"member",
            record.SerializeToString(),
            [*partner_headers(partner_id, key), ("traceparent", Traceparent(sampled=False).header.encode())],
        )
        for offset, record in enumerate((stay("u1", member, "10"), stay("u2", "ghost", "10")))
    ]
    await consumer.process(records, DeadLettersSentOrNot(fail=False))  # type: ignore[arg-type]
    assert await balance_is(pool, member, 100)
    assert batch_spans(spans, consumer.topic) == []
