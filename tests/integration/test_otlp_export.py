"""Spans leave by OTLP/gRPC exactly when OTEL_EXPORTER_OTLP_ENDPOINT is set, to a collector started in the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from services.common.tracing import new_tracer_provider


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, Collector]]:
    servicer = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}", servicer
    finally:
        await server.stop(0)


async def test_spans_are_exported_to_the_configured_endpoint(collector: tuple[str, Collector]) -> None:
    endpoint, received = collector
    provider = new_tracer_provider("points", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    with provider.get_tracer("tests").start_as_current_span("RecordPurchase"):
        pass
    # Shutting down flushes the batch; the exporter blocks, the collector answers on this loop.
    await asyncio.to_thread(provider.shutdown)
    spans = [
        (resource_spans.resource, span.name)
        for request in received.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert [name for _, name in spans] == ["RecordPurchase"]
    resource = {a.key: a.value.string_value for a in spans[0][0].attributes}
    assert resource["service.name"] == "loyalty-points"


def test_without_an_endpoint_nothing_is_exported() -> None:
    provider = new_tracer_provider("points", {})
    assert provider._active_span_processor._span_processors == ()
