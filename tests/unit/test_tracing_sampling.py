"""Trace sampling from the standard OpenTelemetry variables, and reading a record's sampled flag. Pure."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased

from services.common.settings import SettingsError
from services.common.tracing import is_sampled, root_sampler

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"


def test_every_trace_is_sampled_unless_a_ratio_is_configured() -> None:
    assert root_sampler({}) is ALWAYS_ON
    sampler = root_sampler({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert isinstance(sampler, TraceIdRatioBased) and sampler.rate == 0.25


@pytest.mark.parametrize("share", ["2", "-0.1", "a lot"])
def test_a_share_outside_0_to_1_is_refused(share: str) -> None:
    with pytest.raises(SettingsError, match="OTEL_TRACES_SAMPLER_ARG"):
        root_sampler({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": share})


@pytest.mark.parametrize(
    ("headers", "sampled"),
    [
        ([("traceparent", f"{TRACE}-01".encode())], True),
        ([("TraceParent", f"{TRACE}-03".encode())], True),
        ([("traceparent", f"{TRACE}-00".encode())], False),
        ([("traceparent", f"{TRACE}-zz".encode())], False),
        ([("traceparent", b"00-short-01")], False),
        ([("ce_type", b"x")], False),
    ],
)
def test_a_records_sampled_flag_is_read_from_its_traceparent(headers: list[tuple[str, bytes]], sampled: bool) -> None:
    assert is_sampled(headers) is sampled
