"""Dead letters in traces, on the embedded broker: an event of a sampled trace that a consumer group dead-letters
(unreadable, of a type its topic does not carry, refused) has one `<topic> process` span there, marked failed with
the reason, and the `event dead-lettered` line is written inside it."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from loyalty.events.v1 import commerce_pb2
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common import consumer as consumer_module
from services.common.errors import NotFound
from services.common.event_consumer import EventConsumer
from services.common.events import kafka_headers
from services.common.read_model import ReadModelConsumer, Writes
from services.common.settings import KafkaSettings
from tests.integration.support import eventually, running
from tests.integration.test_consumer import (
    INSERT_EFFECT,
    PURCHASE_MADE,
    REFUSED_AMOUNT,
    consumer_options,
    effect_of,
    pool,  # noqa: F401  (the fixture: a database with the effects table)
    purchase_event,
    record_effect,
    topic,  # noqa: F401  (the fixture: a fresh topic)
)


class SpanOfLines(logging.Handler):
    """The (trace id, span id) current when each `event dead-lettered` line was written."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[tuple[int, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "event dead-lettered":
            context = trace.get_current_span().get_span_context()
            self.contexts.append((context.trace_id, context.span_id))


@pytest.fixture
def dead_letter_lines() -> Iterator[SpanOfLines]:
    handler = SpanOfLines()
    logger = logging.getLogger(consumer_module.__name__)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def write_effect(writes: Writes, envelope: EventEnvelope, payload: Message) -> None:
    """A read model's handler refusing the amount record_effect refuses."""
    assert isinstance(payload, commerce_pb2.PurchaseMade)
    if payload.amount.amount_minor == REFUSED_AMOUNT:
        raise NotFound(f"member_id: member {payload.member_id!r} is not enrolled")
    await writes.execute(INSERT_EFFECT, *effect_of(envelope, payload))


def sampled_trace() -> tuple[int, int, bytes]:
    trace_id, span_id = random.getrandbits(128), random.getrandbits(64)
    return trace_id, span_id, f"00-{trace_id:032x}-{span_id:016x}-01".encode()


async def test_every_group_gives_a_dead_lettered_event_of_a_sampled_trace_one_failed_span_and_logs_inside_it(
    pool: asyncpg.Pool,  # noqa: F811
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    topic: str,  # noqa: F811
    spans: InMemorySpanExporter,
    dead_letter_lines: SpanOfLines,
) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    applied, refused, unknown_type, after = (
        purchase_event(member),
        purchase_event(member, REFUSED_AMOUNT),
        purchase_event(member),
        purchase_event(member),
    )
    messages: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = {
        "applied": (applied.SerializeToString(), kafka_headers(applied)),
        "refused": (refused.SerializeToString(), kafka_headers(refused)),
        "unreadable": (b"\xff\xfe not an envelope", [("ce_type", PURCHASE_MADE.encode())]),
        "unknown type": (
            unknown_type.SerializeToString(),
            [(k, b"loyalty.events.v1.Nope" if k == "ce_type" else v) for k, v in kafka_headers(unknown_type)],
        ),
        "after": (after.SerializeToString(), kafka_headers(after)),
    }
    traces = {}
    for name, (value, headers) in messages.items():
        trace_id, span_id, traceparent = sampled_trace()
        traces[name] = (trace_id, span_id)
        await producer.send_and_wait(
            topic, value, key=member.encode(), headers=[*headers, ("traceparent", traceparent)]
        )
    applying = EventConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: record_effect})
    reading = ReadModelConsumer(**consumer_options(pool, kafka_settings, topic), handlers={PURCHASE_MADE: write_effect})

    async def all_read() -> bool:
        return all((c.applied, c.dead_lettered) == (2, 3) for c in (applying, reading))

    async with running(applying.run, reading.run):
        await eventually(all_read, what="both groups through every event")

    finished = spans.get_finished_spans()
    for group in (applying.name, reading.name):
        for name, (trace_id, span_id) in traces.items():
            found = [
                s
                for s in finished
                if s.kind == SpanKind.CONSUMER
                and s.context is not None
                and s.context.trace_id == trace_id
                and s.attributes is not None
                and s.attributes.get("messaging.consumer.group.name") == group
            ]
            assert len(found) == 1, f"{group}: one span for the {name} event, got {len(found)}"
            (span,) = found
            assert span.name == f"{topic} process"
            assert span.parent is not None and span.parent.span_id == span_id
            if name in ("applied", "after"):
                assert span.status.status_code == StatusCode.UNSET, f"{group}: {name}"
                continue
            assert span.status.status_code == StatusCode.ERROR, f"{group}: the {name} event was dead-lettered"
            assert (span.status.description or "").startswith("dead-lettered: ")
            assert span.context is not None
            assert (span.context.trace_id, span.context.span_id) in dead_letter_lines.contexts
    assert len(dead_letter_lines.contexts) == 6  # three dead letters in each group, each line inside its span
