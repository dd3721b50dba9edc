"""Runs one service: migrate, pool, gRPC server, outbox relay and consumers, graceful stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import asyncpg
from opentelemetry import trace

from services.common.auth import Authorizer
from services.common.consumer import BatchConsumer
from services.common.database_health import DatabaseMonitor
from services.common.db import DatabaseUnavailable, DatabaseUnusable, create_pool
from services.common.grpc_server import GrpcServer, PortUnavailable, Registration
from services.common.inbox import InboxPruning
from services.common.kafka import ensure_topics_if_reachable
from services.common.metrics import (
    JOB_DURATION,
    JOB_INTERVAL,
    JOB_LAST_SUCCESS,
    JOB_RUNS,
    OUTBOX_GAUGES,
    MetricsEndpoint,
    SampledGauge,
)
from services.common.migrations import migrate
from services.common.outbox import OutboxRelay
from services.common.settings import ServiceSettings
from services.common.telemetry import configure_logging
from services.common.tracing import configure_tracing

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
# Rows become old enough to forget continuously; an hourly pass keeps each one short.
INBOX_PRUNING_INTERVAL_S = 3600


@dataclass(frozen=True)
class PeriodicJob:
    """Work a service runs every `interval_s` seconds, such as expiring points."""

    name: str
    interval_s: float
    run_once: Callable[[], Awaitable[object]]

    async def run(self) -> None:
        JOB_INTERVAL.labels(self.name).set(self.interval_s)
        while True:
            await self.run_logged()
            await asyncio.sleep(self.interval_s)

    async def run_logged(self) -> None:
        """One run, logged and measured; a failure waits for the next run, it never ends the service."""
        outcome = "failed"
        # Logged inside the run's span, so each line carries its trace id.
        with JOB_DURATION.labels(self.name).time(), tracer.start_as_current_span(f"job {self.name}") as span:
            try:
                result = await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                _failed(span, error)
                log.warning("job failed; next run as scheduled", extra={"job": self.name, "error": repr(error)})
            except Exception as error:
                # A defect: ending the service would take its API down, and every restart would meet it again.
                _failed(span, error)
                log.exception("job failed unexpectedly; next run as scheduled", extra={"job": self.name})
            else:
                outcome = "ok"
                JOB_LAST_SUCCESS.labels(self.name).set_to_current_time()
                log.info("job ran", extra={"job": self.name, "result": repr(result)})
        JOB_RUNS.labels(self.name, outcome).inc()


def _failed(span: trace.Span, error: BaseException) -> None:
    """Mark a job's span failed, as leaving it by the exception did before the failure was logged in it."""
    span.record_exception(error)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class Endpoint(Protocol):
    """A server besides gRPC (the insights dashboard): `name` and `port` say which in the logs. It is started with
    the authorizer the gRPC server has, so that both let in the same callers."""

    name: str
    port: int

    async def start(self, authorizer: Authorizer | None) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ServiceParts:
    """What a service plugs into the runtime."""

    registrations: Sequence[Registration]
    consumers: Sequence[BatchConsumer] = field(default_factory=tuple)
    jobs: Sequence[PeriodicJob] = field(default_factory=tuple)
    # Gauges of the service's own tables, sampled when Prometheus scrapes (the outbox's always are).
    gauges: Sequence[SampledGauge] = field(default_factory=tuple)
    # Servers besides gRPC and metrics (the insights dashboard), started after gRPC and stopped before it.
    endpoints: Sequence[Endpoint] = field(default_factory=tuple)


Builder = Callable[[ServiceSettings, asyncpg.Pool], ServiceParts]


async def migrate_with_retry(settings: ServiceSettings, attempts: int = 30) -> None:
    """Migrate, trying again each second while the database is unavailable (starting up, or read-only for a
    failover under way); DatabaseUnusable once retrying cannot help or `attempts` have failed."""
    for attempt in range(1, attempts + 1):
        try:
            await migrate(settings.database_url, settings.name)
            return
        except DatabaseUnavailable as error:
            if attempt == attempts:
                cause = f"still unavailable after {attempts} attempts: {error.cause}"
                raise DatabaseUnavailable(error.setting, settings.database_url, cause) from error
            log.warning("database not reachable yet", extra={"attempt": attempt, "error": error.cause})
            await asyncio.sleep(1)


async def _migrated(settings: ServiceSettings) -> None:
    """migrate_with_retry, a database it cannot use logged as why the service does not start."""
    try:
        await migrate_with_retry(settings)
    except DatabaseUnusable as error:
        # One line naming the setting and the cause; the command exits 1 on it, with no traceback to add.
        log.error(
            "service not started: cannot use its database",
            extra={"setting": error.setting, "database": error.url, "error": error.cause},
        )
        raise


async def run_service(settings: ServiceSettings, build: Builder, authorizer: Authorizer | None) -> None:
    """Run the service until stopped; `authorizer` (None: every caller is let in) guards each of its servers."""
    configure_logging(
        settings.name, settings.log_level, settings.secrets(), kafka_client_level=settings.kafka_client_log_level
    )
    configure_tracing(settings.name)
    await _migrated(settings)
    pool = await create_pool(settings.database_url)
    parts = build(settings, pool)
    try:
        server = GrpcServer(settings.grpc_address, parts.registrations, tls=settings.grpc_tls, authorizer=authorizer)
    except PortUnavailable as error:
        # Exits: started on a port another process has, it would share the calls with that process.
        log.error(
            "service not started: cannot listen on its gRPC port",
            extra={"grpc": settings.grpc_address, "port": settings.grpc_port, "error": str(error)},
        )
        await pool.close()
        raise
    # The relay and consumers wait for the broker themselves; this only saves a first retry.
    await ensure_topics_if_reachable(settings.kafka, timeout_s=15)
    relay = OutboxRelay(pool, settings.kafka, poll_interval=settings.outbox_poll_ms / 1000)
    # Readiness follows the database: while it does not answer, every call would fail UNAVAILABLE.
    database = DatabaseMonitor(settings.database_url, server.set_ready)
    workers = [
        asyncio.create_task(database.run(), name="database-monitor"),
        asyncio.create_task(relay.run(), name="outbox-relay"),
        *(asyncio.create_task(c.run(), name=f"consumer-{c.name}") for c in parts.consumers),
        *(
            asyncio.create_task(job.run(), name=f"job-{job.name}")
            for job in [*parts.jobs, _inbox_pruning(settings, pool)]
        ),
    ]
    await server.start()
    endpoints = await _start_endpoints(parts.endpoints, authorizer)
    metrics = _start_metrics(settings, pool, parts, database)
    log.info("service started", extra={"grpc": settings.grpc_address, "kafka": settings.kafka.bootstrap})
    # What startup made (modules, protobuf descriptors, the pool) lives as long as the process: leaving it
    # out of the collector's full passes cut their pauses from about 50 ms to 3 ms under purchase load.
    gc.freeze()
    try:
        await _until_stopped(workers)
    finally:
        log.info("service stopping")
        for endpoint in endpoints:
            await endpoint.stop()
        await server.stop()
        if metrics is not None:
            metrics.stop()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await pool.close()
        log.info("service stopped")


async def _start_endpoints(endpoints: Sequence[Endpoint], authorizer: Authorizer | None) -> list[Endpoint]:
    """The endpoints that started. A busy port costs its endpoint, not the service, as for metrics: the gRPC API,
    consumers and jobs are the service's work; the dashboard only shows what GetKpis answers."""
    started = []
    for endpoint in endpoints:
        try:
            await endpoint.start(authorizer)
        except OSError as error:
            log.error(
                "endpoint not started", extra={"endpoint": endpoint.name, "port": endpoint.port, "error": repr(error)}
            )
            continue
        started.append(endpoint)
    return started


def _inbox_pruning(settings: ServiceSettings, pool: asyncpg.Pool) -> PeriodicJob:
    """Every service has an inbox (the kit's migrations make it), whether it consumes yet or not."""
    retention = timedelta(days=settings.inbox_retention_days)
    return PeriodicJob("inbox-pruning", INBOX_PRUNING_INTERVAL_S, InboxPruning(pool, retention).run_once)


def _start_metrics(
    settings: ServiceSettings, pool: asyncpg.Pool, parts: ServiceParts, database: DatabaseMonitor
) -> MetricsEndpoint | None:
    """The Prometheus endpoint, unless disabled; a busy port costs the metrics, not the service."""
    if settings.metrics_port == 0:
        return None
    endpoint = MetricsEndpoint(pool, [*OUTBOX_GAUGES, *parts.gauges], database_up=lambda: database.up)
    try:
        endpoint.start(settings.grpc_host, settings.metrics_port)
    except OSError as error:
        log.error("metrics endpoint not started", extra={"port": settings.metrics_port, "error": repr(error)})
        return None
    log.info("metrics endpoint started", extra={"port": settings.metrics_port})
    return endpoint


def log_task_stacks() -> None:
    """Log where every asyncio task waits (on SIGUSR1): a consumer that stopped moving says why."""
    for name, chain in task_stacks().items():
        log.warning("task stack", extra={"task": name, "awaiting": chain})


def task_stacks() -> dict[str, list[str]]:
    """Each running asyncio task's chain of awaits, outermost first, by task name."""
    return {task.get_name(): _await_chain(task.get_coro()) for task in asyncio.all_tasks()}


def _await_chain(awaitable: object) -> list[str]:
    """file:line of each coroutine down the chain of awaits (a task's own stack shows only the outermost)."""
    chain = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return chain


async def _until_stopped(workers: list[asyncio.Task[None]]) -> None:
    """Return on SIGTERM or SIGINT; re-raise if a background worker dies."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, log_task_stacks)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *workers], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper:
            task.result()
            raise RuntimeError(f"background worker {task.get_name()} ended unexpectedly")
