"""Spans leave by OTLP/gRPC exactly when OTEL_EXPORTER_OTLP_ENDPOINT is set, to a collector started in the test."""

from __future__ import annotations

import asyncio

from services.common.tracing import new_tracer_provider
from tests.otlp_collector import collecting


async def test_spans_are_exported_to_the_configured_endpoint() -> None:
    async with collecting() as collector:
        provider = new_tracer_provider("points", {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
        with provider.get_tracer("tests").start_as_current_span("RecordPurchase"):
            pass
        # Shutting down flushes the batch; the exporter blocks, the collector answers on this loop.
        await asyncio.to_thread(provider.shutdown)
    assert [(s.service, s.span.name) for s in collector.spans] == [("loyalty-points", "RecordPurchase")]


def test_without_an_endpoint_nothing_is_exported() -> None:
    provider = new_tracer_provider("points", {})
    assert provider._active_span_processor._span_processors == ()
