"""The pool's floor restorer, reconnecting while the database is away, logs in no operation's trace."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from services.common.db import create_pool
from services.common.tracing import configure_tracing
from tests.integration.support import eventually

FLOOR_RETRY = "Failed to restore the pool connection floor; retrying"


class _SpansOfLines(logging.Handler):
    """Each line's message with the span current where it was logged (what the JSON logs take its ids from)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, SpanContext]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), trace.get_current_span().get_span_context()))


@asynccontextmanager
async def _spans_of(logger: str) -> AsyncIterator[_SpansOfLines]:
    handler = _SpansOfLines()
    logging.getLogger(logger).addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger(logger).removeHandler(handler)


@asynccontextmanager
async def _database_away(admin_url: str, database: str) -> AsyncIterator[None]:
    """`database` refuses new connections and its sessions are cut, until the block ends."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database)
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_the_floor_restorer_logs_outside_the_span_its_lost_connection_was_made_in(
    create_database: Callable[[], Awaitable[str]], postgres_admin_url: str
) -> None:
    """A points service logged each reconnect attempt of an outage with the ids of its startup `job expiry` span,
    ended minutes before: asyncio started the restorer in the context of what lost the connection."""
    configure_tracing("tests")
    pool = await create_pool(await create_database(), min_size=1, max_size=2)
    try:
        database = await pool.fetchval("SELECT current_database()")
        with trace.get_tracer(__name__).start_as_current_span("job expiry"):
            # The job's query replaces the pool's one connection: the floor connection is now made in its span.
            await pool.expire_connections()
            await pool.fetchval("SELECT 1")
        async with _spans_of("asyncpg.pool") as logged, _database_away(postgres_admin_url, database):

            async def retried() -> list[SpanContext]:
                return [span for message, span in logged.lines if message == FLOOR_RETRY]

            spans = await eventually(retried, what="the floor restorer to fail a reconnect")
        assert not any(span.is_valid for span in spans), "a reconnect attempt was logged in the job's trace"
    finally:
        await pool.close()
