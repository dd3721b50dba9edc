"""Structured JSON logs that carry the current trace and span ids, with secrets and personal data redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from services.common.redaction import Redactor


class _TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


class _RedactingJsonFormatter(JsonFormatter):
    def __init__(self, redactor: Redactor, **options: Any) -> None:
        super().__init__(**options)
        self._redactor = redactor

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return self._redactor.fields(log_data)


def configure_logging(
    service: str,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    kafka_client_level: str = "CRITICAL",
) -> None:
    """JSON lines on `stream` (stderr); `secrets` (passwords the service was given) never appear in them."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        _RedactingJsonFormatter(
            Redactor(secrets),
            fmt="{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_TraceContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect attempt at ERROR; the platform logs outages itself, so it is
    # heard only when asked for (its group joins and assignments, at INFO, explain a stalled consumer).
    logging.getLogger("aiokafka").setLevel(kafka_client_level)
