"""A call to a method the service does not have is answered UNIMPLEMENTED, as grpc does, and leaves a trace: a
count under the one `method` label `unknown`, a log line and a server span that name the method. Before, grpc
answered it before any interceptor ran, and nothing showed it."""

from __future__ import annotations

import logging

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from services.common.unknown_methods import SHOWN_LENGTH, UNKNOWN_METHOD
from tests.integration.support import code_of, eventually

NO_SUCH_METHOD = "/loyalty.points.v1.PointsService/NoSuchMethod"
HANDLED = "loyalty_rpc_server_handled_total"


def handled(**labels: str) -> float:
    return REGISTRY.get_sample_value(HANDLED, labels) or 0.0


def methods_counted() -> set[str]:
    samples = (sample for family in REGISTRY.collect() for sample in family.samples)
    return {sample.labels["method"] for sample in samples if sample.name == HANDLED}


async def test_a_call_to_a_method_the_service_lacks_is_counted_logged_and_traced(
    points_address: str, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.common.unknown_methods")
    long_name = "/loyalty.points.v1.PointsService/" + "X" * 5000  # any name a client likes
    unimplemented = {"method": UNKNOWN_METHOD, "code": "UNIMPLEMENTED"}
    before = handled(**unimplemented)
    spans.clear()
    async with grpc.aio.insecure_channel(points_address) as channel:
        unary = await code_of(channel.unary_unary(NO_SUCH_METHOD)(b""))
        streamed = await channel.stream_stream(long_name)(iter([b""])).code()
    assert (unary, streamed) == (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNIMPLEMENTED)

    assert handled(**unimplemented) - before == 2
    assert not {NO_SUCH_METHOD, long_name} & methods_counted()  # the caller's names make no series
    shown = [NO_SUCH_METHOD, long_name[: SHOWN_LENGTH - 1] + "…"]
    logged = [r for r in caplog.records if r.getMessage() == "call to an unknown method"]
    assert [r.method for r in logged] == shown  # type: ignore[attr-defined]

    async def server_spans() -> list[ReadableSpan]:  # the server may end its span after the client has its answer
        finished = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
        return finished if len(finished) == 2 else []

    traced = await eventually(server_spans, what="the server spans of the unknown methods")
    assert {s.name for s in traced} == {"unknown method"}
    assert sorted(str((s.attributes or {})["rpc.method"]) for s in traced) == sorted(shown)
    assert all((s.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.UNIMPLEMENTED.value[0] for s in traced)
    assert all(s.status.status_code == StatusCode.ERROR for s in traced)
