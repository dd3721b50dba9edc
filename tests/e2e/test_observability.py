"""Telemetry of the running platform: one purchase read back as one trace, and every service's metrics scraped."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request

from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from services.client import money, record_purchase_request
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.e2e.support import eventually, new_member_id
from tests.otlp_collector import Collector, ReceivedSpan

# The services that consume points events (notifications adds earnings to a summary).
CONSUMING_SERVICES = {"loyalty-rewards", "loyalty-tickets", "loyalty-insights", "loyalty-notifications"}

PRODUCER, CONSUMER, SERVER = 4, 5, 2  # opentelemetry.proto.trace.v1 Span.SpanKind


def _only(spans: list[ReceivedSpan], service: str, name: str, kind: int) -> ReceivedSpan:
    found = [s for s in spans if (s.service, s.span.name, s.span.kind) == (service, name, kind)]
    assert len(found) == 1, f"one {service} {name!r} span expected, got {[(s.service, s.span.name) for s in spans]}"
    return found[0]


async def test_one_purchase_is_one_trace_across_the_services(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub, collector: Collector
) -> None:
    member_id = new_member_id()
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    # The caller's context, as an instrumented caller would send it.
    trace_id, caller_span_id = os.urandom(16).hex(), os.urandom(8).hex()
    await points.RecordPurchase(
        record_purchase_request(member_id, money("12.00", "USD")),
        metadata=(("traceparent", f"00-{trace_id}-{caller_span_id}-01"),),
    )

    def consumed(spans: list[ReceivedSpan]) -> bool:
        return {s.service for s in spans if s.span.kind == CONSUMER} >= CONSUMING_SERVICES

    async def the_trace() -> list[ReceivedSpan]:
        return collector.of_trace(trace_id)

    spans = await eventually(the_trace, consumed, "the purchase's trace to reach every consumer")
    server = _only(spans, "loyalty-points", "/loyalty.points.v1.PointsService/RecordPurchase", SERVER)
    assert server.parent_span_id == caller_span_id
    assert any(s.parent_span_id == server.span_id and s.attribute("db.system") == "postgresql" for s in spans)
    publish = _only(spans, "loyalty-points", f"{POINTS_EVENTS_TOPIC} publish", PRODUCER)
    assert publish.parent_span_id == server.span_id
    # Every consumer of the topic (rewards runs two: tier view and perks) processes it under the publish span.
    processed = [s for s in spans if s.span.kind == CONSUMER and s.span.name == f"{POINTS_EVENTS_TOPIC} process"]
    assert {s.service for s in processed} == CONSUMING_SERVICES
    assert all(s.parent_span_id == publish.span_id for s in processed)


Samples = dict[str, list[tuple[dict[str, str], float]]]


def _scrape(port: str) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


async def test_every_service_serves_its_metrics(platform: Platform, points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = new_member_id()
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    await points.RecordPurchase(record_purchase_request(member_id, money("5.00", "USD")))
    ports = {name: platform.extra_env[f"LOYALTY_{name.upper()}_METRICS_PORT"] for name in SERVICE_NAMES}

    async def scraped() -> dict[str, Samples]:
        return {name: await asyncio.to_thread(_scrape, port) for name, port in ports.items()}

    def tiers_applied(everything: dict[str, Samples]) -> bool:
        return all(
            any(v >= 1 for _, v in everything[name].get("loyalty_consumer_applied_total", []))
            for name in ("rewards", "tickets")
        )

    metrics = await eventually(scraped, tiers_applied, "rewards and tickets to apply the enrolment")
    handled = metrics["points"]["loyalty_rpc_server_handled_total"]
    assert any(
        labels == {"method": "/loyalty.points.v1.PointsService/RecordPurchase", "code": "OK"} and value >= 1
        for labels, value in handled
    )
    written = metrics["points"]["loyalty_points_ledger_entries_written_total"]
    assert any(labels["kind"] == "purchase_earn" and value >= 1 for labels, value in written)
    for name in SERVICE_NAMES:
        assert "loyalty_outbox_backlog_rows" in metrics[name] and "loyalty_outbox_oldest_age_seconds" in metrics[name]
    assert "loyalty_points_holds_pending" in metrics["points"]
    lags = metrics["rewards"]["loyalty_consumer_lag_messages"]
    assert any(labels["consumer"] == "rewards.member-tiers" for labels, _ in lags)


def test_every_line_of_every_service_log_is_a_json_object(platform: Platform) -> None:
    """The logs are documented (and shipped) as JSON lines, the note `loyalty dev` writes on starting a service
    included: it has the fields the service's own lines have."""
    for name in SERVICE_NAMES:
        lines = platform.log_path(name).read_text(encoding="utf-8").splitlines()
        parsed = []
        for number, line in enumerate(lines, 1):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"{name}.log line {number} is not JSON: {line!r}") from None
        assert all(isinstance(entry, dict) for entry in parsed), name
        started = [entry for entry in parsed if entry.get("message") == f"loyalty dev: starting {name}"]
        assert started, f"{name}.log has no start note"
        own = next(entry for entry in parsed if entry.get("logger", "").startswith("services."))
        assert {"time", "level", "logger", "message", "service"} <= set(started[0]) <= set(own) | {"message"}
        assert (started[0]["service"], started[0]["level"]) == (own["service"], "INFO")
