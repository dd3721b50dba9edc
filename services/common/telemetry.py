"""Structured JSON logs that carry the current trace and span ids, with secrets and personal data redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


# Lines that come once per call or per reconnect attempt while the database is away, by (logger, message): the
# first is written, then at most one per interval, carrying `suppressed`, how many were left out since the last.
# The outage itself is logged once by the database monitor (services.common.database_health); each refused call
# keeps its `call refused` line (the access log) and is counted in loyalty_rpc_server_handled_total.
THROTTLED: Mapping[tuple[str, str], float] = {
    ("services.common.grpc_server", "database unavailable during a call"): 10.0,
    # asyncpg's pool, reconnecting the connection it keeps open, logs each failed attempt with a traceback.
    ("asyncpg.pool", "Failed to restore the pool connection floor; retrying"): 60.0,
}


@dataclass
class Throttle:
    """At most one line every `every_s` seconds: the first at once, the next once the interval has passed."""

    every_s: float
    next_at: float | None = None
    suppressed: int = 0

    def admit(self, now: float) -> int | None:
        """None to leave the line out; else write it, with the number of lines left out since the last one."""
        if self.next_at is not None and now < self.next_at:
            self.suppressed += 1
            return None
        left_out, self.suppressed = self.suppressed, 0
        self.next_at = now + self.every_s
        return left_out


class _ThrottlingFilter(logging.Filter):
    """Throttles the `THROTTLED` lines; a throttled line's traceback becomes its one-line `error`."""

    def __init__(self, intervals: Mapping[tuple[str, str], float], clock: Callable[[], float]) -> None:
        super().__init__()
        self._throttles = {key: Throttle(every_s) for key, every_s in intervals.items()}
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        throttle = self._throttles.get((record.name, str(record.msg)))
        if throttle is None:
            return True
        left_out = throttle.admit(self._clock())
        if left_out is None:
            return False
        if left_out:
            record.suppressed = left_out
        if record.exc_info and record.exc_info[1] is not None:
            record.error = repr(record.exc_info[1])
            record.exc_info = None
            record.exc_text = None
        return True


def log_time(created: float, msecs: float) -> str:
    """ISO 8601 in UTC to the millisecond, `2026-12-07T03:05:09.801Z`: unambiguous across hosts and zones."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(created))}.{int(msecs):03d}Z"


def log_line(service: str, logger: str, message: str, level: str = "INFO") -> str:
    """One line as the services log it (`configure_logging`), for a writer that is not a service's logging:
    `loyalty dev` noting in a service's log that it starts the service."""
    now = time.time()
    fields = {"time": log_time(now, now % 1 * 1000), "level": level, "logger": logger, "message": message}
    return json.dumps({**fields, "service": service}) + "\n"


class _RedactingJsonFormatter(JsonFormatter):
    def __init__(self, redactor: Redactor, **options: Any) -> None:
        super().__init__(**options)
        self._redactor = redactor

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return log_time(record.created, record.msecs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return self._redactor.fields(log_data)


def configure_logging(
    service: str,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    kafka_client_level: str = "CRITICAL",
    clock: Callable[[], float] = time.monotonic,
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
    handler.addFilter(_ThrottlingFilter(THROTTLED, clock))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect attempt at ERROR; the platform logs outages itself, so it is
    # heard only when asked for (its group joins and assignments, at INFO, explain a stalled consumer).
    logging.getLogger("aiokafka").setLevel(kafka_client_level)
