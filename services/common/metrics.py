"""Prometheus metrics of a service and the HTTP endpoint Prometheus scrapes.

Counters and histograms are updated where things happen (RPCs, consumed
events, ledger entries). Gauges that describe a database (outbox backlog,
holds pending) are sampled when Prometheus scrapes: the endpoint's thread asks
the service's event loop to run their queries, so a value is never staler
than the scrape. While the database does not answer (`loyalty_database_up`, kept
by the service's database monitor, is 0) they are left out rather than waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from wsgiref.simple_server import WSGIServer

import asyncpg
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.db import after_commit

log = logging.getLogger(__name__)

RPC_HANDLED = Counter("loyalty_rpc_server_handled", "gRPC calls handled, by method and status code", ["method", "code"])
RPC_DURATION = Histogram(
    "loyalty_rpc_server_duration_seconds", "Time to handle a gRPC call, by method and status code", ["method", "code"]
)
CONSUMER_LAG = Gauge(
    "loyalty_consumer_lag_messages",
    "Messages in a partition not yet processed by a consumer group (the broker's high watermark minus its position)",
    ["consumer", "topic", "partition"],
)


class ConsumerLag:
    """The CONSUMER_LAG series of one consumer's topic: only of the partitions its group gives it, as a partition
    exported by two replicas (one of them stale, at the value it had when a rebalance took it) would be."""

    def __init__(self, consumer: str, topic: str) -> None:
        self._labels = (consumer, topic)
        self._exported: set[int] = set()

    def record(self, partition: int, lag: int) -> None:
        CONSUMER_LAG.labels(*self._labels, str(partition)).set(max(lag, 0))
        self._exported.add(partition)

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions & self._exported:
            CONSUMER_LAG.remove(*self._labels, str(partition))
        self._exported -= partitions

    def keep_only(self, partitions: set[int]) -> None:
        self.forget(self._exported - partitions)


CONSUMER_BATCH_DURATION = Histogram(
    "loyalty_consumer_batch_duration_seconds",
    "Time to apply one fetched batch of a partition, its transaction included",
    ["consumer", "topic"],
)
CONSUMER_APPLIED = Counter("loyalty_consumer_applied", "Events a consumer applied", ["consumer", "topic"])
CONSUMER_DEAD_LETTERED = Counter(
    "loyalty_consumer_dead_lettered", "Events a consumer sent to the dead-letter topic", ["consumer", "topic"]
)
CONSUMER_DUPLICATES = Counter(
    "loyalty_consumer_duplicates",
    "Events a consumer had applied before and skipped (redeliveries, replays)",
    ["consumer", "topic"],
)
OUTBOX_PUBLISHED = Counter("loyalty_outbox_published", "Outbox rows the relay published", ["topic"])
LEDGER_ENTRIES = Counter(
    "loyalty_points_ledger_entries_written",
    "Points ledger entries written, by kind (counted when their transaction commits)",
    ["kind"],
)
GROUP_COMMIT_BATCH = Histogram(
    "loyalty_group_commit_batch_size",
    "Requests that shared one transaction, by use case",
    ["use_case"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GROUP_COMMIT_QUEUED = Gauge(
    "loyalty_group_commit_queued_requests",
    "Requests waiting for a group-commit batch to take them, by use case",
    ["use_case"],
)
JOB_RUNS = Counter(
    "loyalty_job_runs", "Runs of a periodic job, by job and outcome (ok, failed)", ["periodic_job", "outcome"]
)
JOB_DURATION = Histogram("loyalty_job_duration_seconds", "Time one run of a periodic job took", ["periodic_job"])
JOB_LAST_SUCCESS = Gauge(
    "loyalty_job_last_success_timestamp_seconds",
    "When a periodic job last ran to the end (Unix time)",
    ["periodic_job"],
)
JOB_INTERVAL = Gauge(
    "loyalty_job_interval_seconds",
    "How often a periodic job runs: its last success older than a few of these means it is stuck or failing",
    ["periodic_job"],
)
DATABASE_UP = Gauge(
    "loyalty_database_up",
    "1 when the service's database answered its last check (SELECT 1, every few seconds), 0 when it did not",
)

_SAMPLE_TIMEOUT_S = 5.0


def count_ledger_entries(kind: str, entries: int = 1) -> None:
    """Count entries written in the unit of work under way once it commits: not those of an attempt rolled back
    (a consumer's batch run again around a refused event, a group commit's batch run again request by request)."""
    if entries:
        after_commit(partial(LEDGER_ENTRIES.labels(kind).inc, entries))


@dataclass(frozen=True)
class SampledGauge:
    """A gauge whose value one SQL query returns when Prometheus scrapes."""

    name: str
    documentation: str
    query: str


OUTBOX_GAUGES = (
    SampledGauge(
        "loyalty_outbox_backlog_rows",
        "Outbox rows not yet published",
        "SELECT count(*) FROM outbox_pending",
    ),
    SampledGauge(
        "loyalty_outbox_oldest_age_seconds",
        "Age of the oldest unpublished outbox row; 0 when none waits",
        """SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(o.created_at)), 0)
             FROM outbox_pending JOIN outbox o USING (id)""",
    ),
)


def _always_up() -> bool:
    return True


class _DatabaseGauges(Collector):
    def __init__(
        self,
        pool: asyncpg.Pool,
        gauges: Sequence[SampledGauge],
        loop: asyncio.AbstractEventLoop,
        database_up: Callable[[], bool],
    ) -> None:
        self._pool = pool
        self._gauges = gauges
        self._loop = loop
        self._database_up = database_up

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._pool_gauges()
        if not self._database_up():
            # The monitor logs the outage and loyalty_database_up says it: no query to wait for, no line per scrape.
            return
        # Runs on the endpoint's thread: the queries run on the service's loop, where the pool lives.
        future = asyncio.run_coroutine_threadsafe(self._sample(), self._loop)
        try:
            values = future.result(timeout=_SAMPLE_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            future.cancel()
            log.warning("database gauges not sampled", extra={"error": repr(error)})
            return
        for gauge, value in zip(self._gauges, values, strict=True):
            yield GaugeMetricFamily(gauge.name, gauge.documentation, value=float(value))

    def _pool_gauges(self) -> Iterator[GaugeMetricFamily]:
        """The pool as it stands, outage or not: every connection in use (none idle, size at the maximum) is the
        pool exhausted, calls waiting for a connection."""
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        connections = GaugeMetricFamily(
            "loyalty_db_pool_connections", "Connections the service's database pool holds, by state", labels=["state"]
        )
        connections.add_metric(["in_use"], float(size - idle))
        connections.add_metric(["idle"], float(idle))
        yield connections
        yield GaugeMetricFamily(
            "loyalty_db_pool_max_connections",
            "The most connections the pool opens",
            value=float(self._pool.get_max_size()),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only, so registering does not run the queries.
        yield GaugeMetricFamily("loyalty_db_pool_connections", "", labels=["state"])
        yield GaugeMetricFamily("loyalty_db_pool_max_connections", "")
        for gauge in self._gauges:
            yield GaugeMetricFamily(gauge.name, gauge.documentation)

    async def _sample(self) -> list[float]:
        async with self._pool.acquire() as connection:
            return [float(await connection.fetchval(gauge.query)) for gauge in self._gauges]


class MetricsEndpoint:
    """Serves the process's metrics, and the service's database gauges, at http://host:port/metrics."""

    def __init__(
        self, pool: asyncpg.Pool, gauges: Sequence[SampledGauge], *, database_up: Callable[[], bool] = _always_up
    ) -> None:
        self._pool = pool
        self._gauges = gauges
        self._database_up = database_up
        self._collector: _DatabaseGauges | None = None
        self._server: WSGIServer | None = None

    def start(self, host: str, port: int) -> int:
        """Listen and return the port (useful with 0: any free port)."""
        self._collector = _DatabaseGauges(self._pool, self._gauges, asyncio.get_running_loop(), self._database_up)
        REGISTRY.register(self._collector)
        try:
            self._server, _ = start_http_server(port, addr=host)
        except BaseException:
            REGISTRY.unregister(self._collector)
            raise
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._collector is not None:
            REGISTRY.unregister(self._collector)


POINTS_GAUGES = (
    SampledGauge(
        "loyalty_points_holds_pending",
        "Holds that still reserve points: neither captured, released nor expired",
        "SELECT count(*) FROM holds WHERE status = 'held' AND expires_at > now()",
    ),
    SampledGauge(
        "loyalty_points_refunds_awaiting_purchase",
        "PurchaseRefunded events kept until the purchase they refund is recorded",
        "SELECT count(*) FROM refunds_awaiting_purchase WHERE refused_reason IS NULL",
    ),
    SampledGauge(
        "loyalty_points_refunds_awaiting_purchase_oldest_age_seconds",
        "How long the oldest refund kept for its purchase has waited; 0 when none waits",
        """SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(kept_at)), 0)
             FROM refunds_awaiting_purchase WHERE refused_reason IS NULL""",
    ),
    SampledGauge(
        "loyalty_points_refunds_refused_by_purchase",
        "Refunds kept for their purchase that it refused when recorded (another member, currency, more than paid)",
        "SELECT count(*) FROM refunds_awaiting_purchase WHERE refused_reason IS NOT NULL",
    ),
)
