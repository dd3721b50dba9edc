"""The sampler keeps every span of an operation and drops database polls that belong to none."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from services.common.tracing import WithoutOrphanQueries

QUERY = {"db.system": "postgresql"}
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def _inside_a_sampled_operation() -> Context:
    parent = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def test_a_query_outside_any_operation_is_dropped() -> None:
    result = WithoutOrphanQueries().should_sample(None, TRACE_ID, "SELECT", SpanKind.CLIENT, QUERY)
    assert result.decision == Decision.DROP


def test_a_query_inside_an_operation_follows_it() -> None:
    context = _inside_a_sampled_operation()
    result = WithoutOrphanQueries().should_sample(context, TRACE_ID, "SELECT", SpanKind.CLIENT, QUERY)
    assert result.decision == Decision.RECORD_AND_SAMPLE


def test_an_operation_that_starts_a_trace_is_recorded() -> None:
    result = WithoutOrphanQueries().should_sample(None, TRACE_ID, "/points/RecordPurchase", SpanKind.SERVER, {})
    assert result.decision == Decision.RECORD_AND_SAMPLE


def test_a_batch_linking_a_sampled_record_is_recorded_whatever_the_share_of_new_traces() -> None:
    sampled = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    unsampled = SpanContext(TRACE_ID + 1, 0x00F067AA0BA902B8, is_remote=True, trace_flags=TraceFlags(0))
    sampler = WithoutOrphanQueries(TraceIdRatioBased(0.0))
    linked = sampler.should_sample(None, TRACE_ID, "batch", SpanKind.CONSUMER, {}, [Link(unsampled), Link(sampled)])
    assert linked.decision == Decision.RECORD_AND_SAMPLE
    alone = sampler.should_sample(None, TRACE_ID, "batch", SpanKind.CONSUMER, {}, [Link(unsampled)])
    assert alone.decision == Decision.DROP
