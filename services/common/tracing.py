"""Traces: the SDK tracer provider, OTLP export when configured, asyncpg spans, Kafka span helpers.

gRPC server spans come from the interceptor in grpc_server.py and client spans
from tls.py (grpc_channel). The trace context travels on Kafka in the `traceparent`
header: the outbox keeps the context of the transaction that wrote each event,
the relay publishes it under a producer span that is that context's child, and
each consumer processes the record under a consumer span that is the producer
span's child.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from services.common.events import current_traceparent
from services.common.settings import SettingsError

_tracer = trace.get_tracer(__name__)
_DB_SYSTEM_KEYS = ("db.system", "db.system.name")


class WithoutOrphanQueries(Sampler):
    """Parent-based sampling that drops database spans outside any operation, and keeps a span without a parent
    that links a sampled context.

    The outbox relay and the consumers poll PostgreSQL several times a second;
    recorded as traces of their own, those queries would bury the traces of
    real work. A query made inside a gRPC call, a consumed event or a job is
    kept with its parent. A batch of records from many traces (partner accruals)
    is a span of its own linked to them: it follows their decision, not the
    share of new traces, or a sampled record would lose its batch's span.
    """

    def __init__(self, root: Sampler = ALWAYS_ON) -> None:
        self._delegate = ParentBased(root)

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        orphan = not trace.get_current_span(parent_context).get_span_context().is_valid
        if orphan and attributes and any(key in attributes for key in _DB_SYSTEM_KEYS):
            return SamplingResult(Decision.DROP)
        if orphan and links and any(link.context.trace_flags.sampled for link in links):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "WithoutOrphanQueries{ParentBased}"


def root_sampler(env: Mapping[str, str]) -> Sampler:
    """Every trace (the default), or a share of new ones: the standard `OTEL_TRACES_SAMPLER=parentbased_traceidratio`
    (or `traceidratio`) with `OTEL_TRACES_SAMPLER_ARG` the share, 0 to 1. Calls arriving in a trace follow it."""
    if env.get("OTEL_TRACES_SAMPLER", "") not in ("traceidratio", "parentbased_traceidratio"):
        return ALWAYS_ON
    text = env.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise SettingsError(f"OTEL_TRACES_SAMPLER_ARG: {text!r} is not a share between 0 and 1")
    return TraceIdRatioBased(ratio)


def is_sampled(headers: Sequence[tuple[str, bytes]]) -> bool:
    """Whether a record's `traceparent` header names a sampled trace (flags bit 0); False without one."""
    for key, value in headers:
        if key.lower() == "traceparent":
            try:
                return len(value) == 55 and int(value[53:55], 16) & 1 == 1
            except ValueError:
                return False
    return False


def new_tracer_provider(service: str, env: Mapping[str, str] = os.environ) -> TracerProvider:
    """A provider that exports by OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else records only.

    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` wins over it; the exporter reads the
    other standard `OTEL_EXPORTER_OTLP_*` variables (headers, certificate, timeout) itself.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"loyalty-{service}"}),
        sampler=WithoutOrphanQueries(root_sampler(env)),
    )
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        # Imported only when used: it loads the OTLP protobufs and a gRPC channel.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def configure_tracing(service: str, env: Mapping[str, str] = os.environ) -> TracerProvider:
    """Install the SDK tracer provider once per process and instrument asyncpg."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = new_tracer_provider(service, env)
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    return provider


@contextmanager
def within(trace_context: context.Context) -> Iterator[None]:
    """Work done for one request inside a batch shared with others (group commit) stays in that request's trace."""
    token = context.attach(trace_context)
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def publishing(topic: str, traceparent: str = "") -> Iterator[str]:
    """A producer span, child of the context an event was written in (the current one when `traceparent` is
    empty: a client publishing an event it makes now); yields the traceparent to send."""
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with _tracer.start_as_current_span(
        f"{topic} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
    ):
        yield current_traceparent()


@contextmanager
def consuming(topic: str, consumer: str, headers: Sequence[tuple[str, bytes]]) -> Iterator[None]:
    """A consumer span, child of the producer span whose context the record's headers carry."""
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=propagate.extract(_carrier(headers)),
        kind=SpanKind.CONSUMER,
        attributes=_consumer_attributes(topic, consumer),
    ):
        yield


class RecordSpans:
    """One consumer span per record of a batch applied in one transaction, however many times it is attempted
    (rolled back at a refusal and applied again, each event in a savepoint): a record's work in every attempt,
    and its dead letter, are in its one span. Each span is started when its record is first worked on, and all
    end with the batch (`with RecordSpans(...) as spans`)."""

    def __init__(self, topic: str, consumer: str) -> None:
        self._topic = topic
        self._attributes = _consumer_attributes(topic, consumer)
        self._spans: dict[tuple[int, int], trace.Span] = {}

    def __enter__(self) -> RecordSpans:
        return self

    def __exit__(self, *_: object) -> None:
        for span in self._spans.values():
            span.end()

    @contextmanager
    def of(self, partition: int, offset: int, headers: Sequence[tuple[str, bytes]]) -> Iterator[None]:
        """Work for the record at `offset` of `partition` in its span, child of the context its headers carry."""
        span = self._spans.get((partition, offset))
        if span is None:
            span = self._spans[(partition, offset)] = _tracer.start_span(
                f"{self._topic} process",
                context=propagate.extract(_carrier(headers)),
                kind=SpanKind.CONSUMER,
                attributes=self._attributes,
            )
        with trace.use_span(span, end_on_exit=False):
            yield


def mark_dead_lettered(reason: str) -> None:
    """Mark the current span, a record's own, failed: the record was dead-lettered for `reason`."""
    trace.get_current_span().set_status(trace.Status(trace.StatusCode.ERROR, f"dead-lettered: {reason}"))


def carried_context(headers: Sequence[tuple[str, bytes]]) -> context.Context | None:
    """The trace context a record's `traceparent` header carries, sampled or not; None without a valid one."""
    carried = propagate.extract(_carrier(headers))
    return carried if trace.get_current_span(carried).get_span_context().is_valid else None


@contextmanager
def consuming_batch(
    topic: str, consumer: str, carried: Sequence[context.Context | None]
) -> Iterator[trace.Span | None]:
    """A consumer span for a batch of records applied together, `carried` their contexts (carried_context).

    The records come from many traces, so the span is no record's child: it links the context of each record of
    a sampled trace, and is recorded for them (WithoutOrphanQueries). A record without a trace starts one, as an
    event consumer's does: the batch span is then a new trace, sampled as any. A batch whose records all follow
    unsampled traces makes no span at all (None): at partner volume, that is nearly every batch.
    """
    links = [Link(span) for span in _span_contexts(carried) if span.trace_flags.sampled]
    if not links and None not in carried:
        yield None
        return
    attributes: dict[str, str | int] = {
        **_consumer_attributes(topic, consumer),
        "messaging.batch.message_count": len(carried),
    }
    with _tracer.start_as_current_span(
        f"{topic} process", context=context.Context(), kind=SpanKind.CONSUMER, links=links, attributes=attributes
    ) as span:
        yield span


def _span_contexts(carried: Sequence[context.Context | None]) -> Iterator[trace.SpanContext]:
    for each in carried:
        if each is not None:
            yield trace.get_current_span(each).get_span_context()


def _carrier(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {key.lower(): value.decode("latin-1") for key, value in headers}


def _consumer_attributes(topic: str, consumer: str) -> dict[str, str]:
    """What every consumer span says of where its records came from (OpenTelemetry's messaging conventions)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.consumer.group.name": consumer}
