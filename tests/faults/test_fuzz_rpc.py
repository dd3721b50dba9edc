"""Property-based fuzzing of every RPC's request: never INTERNAL, UNKNOWN or UNAVAILABLE, and a refused call writes
nothing.

Requests are built from the protobuf descriptors (tests/faults/fuzz_strategies.py),
with real ids mixed in. "Writes nothing" is checked by counting the rows of
every table of the three databases before and after each call (read-only SQL:
the harness's view, not a service's); an accepted call may write, and the
next call then waits until the platform is quiet again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.e2e.conftest import running_platform
from tests.faults.books import REPORTS, Books, Report
from tests.faults.delivery import server_status_lost
from tests.faults.fuzz_strategies import Rpc, message_class, messages, platform_rpcs
from tests.faults.scale import Scale
from tests.faults.world import Cast, cast, stubs_for

pytestmark = pytest.mark.faults

T = TypeVar("T")
# UNAVAILABLE too: nothing is down while the fuzz runs, so it could only be a request taken for an outage
# (as a time zone name too long for a file name once was).
NEVER = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.UNAVAILABLE,
}
QUIET_DEADLINE_S = 15.0


@dataclass
class FuzzTally:
    statuses: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    problems: list[str] = field(default_factory=list)


TALLY = FuzzTally()

Snapshot = dict[str, int]


class RowCounts:
    """Row counts of every table of the three databases, read with one query per database."""

    def __init__(self, connections: dict[str, asyncpg.Connection], queries: dict[str, str]) -> None:
        self._connections = connections
        self._queries = queries

    @classmethod
    async def open(cls, platform: Platform) -> RowCounts:
        connections, queries = {}, {}
        for service in SERVICE_NAMES:
            connection = await asyncpg.connect(platform.database_url(service))
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )
            counts = ", ".join(f"'{t['tablename']}', (SELECT count(*) FROM \"{t['tablename']}\")" for t in tables)
            connections[service], queries[service] = connection, f"SELECT json_build_object({counts})::text"
        return cls(connections, queries)

    async def snapshot(self) -> Snapshot:
        counts: Snapshot = {}
        for service, connection in self._connections.items():
            for table, count in json.loads(await connection.fetchval(self._queries[service])).items():
                counts[f"{service}.{table}"] = int(count)
        return counts

    async def quiet(self) -> Snapshot:
        """Wait until two snapshots a little apart agree (events of an accepted call have landed)."""
        deadline = time.monotonic() + QUIET_DEADLINE_S
        last = await self.snapshot()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            now = await self.snapshot()
            if now == last:
                return now
            last = now
        return last

    async def close(self) -> None:
        for connection in self._connections.values():
            await connection.close()


@dataclass
class Target:
    platform: Platform
    channels: dict[str, grpc.aio.Channel]
    counts: RowCounts
    known: tuple[str, ...]
    partner_key: str
    loop: asyncio.AbstractEventLoop
    quiet: Snapshot | None = None


@pytest.fixture(scope="module")
async def target(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Target]:
    """A platform of its own (fuzzed calls may change its catalog, partners and agents) with a cast to aim at."""
    async with running_platform(tmp_path_factory, postgres_admin_url, {"LOYALTY_LOG_LEVEL": "WARNING"}) as platform:
        async with stubs_for(platform) as stubs:
            the_cast: Cast = await cast(stubs, Books(), members=2)
        channels = {name: grpc.aio.insecure_channel(platform.grpc_address(name)) for name in SERVICE_NAMES}
        counts = await RowCounts.open(platform)
        known = (*the_cast.members, the_cast.partner_id, the_cast.reward_id, "faults-agent", "USD", "2026-01-01")
        try:
            yield Target(platform, channels, counts, known, the_cast.partner_key, asyncio.get_running_loop())
        finally:
            await counts.close()
            for channel in channels.values():
                await channel.close()


@dataclass(frozen=True)
class Outcome:
    status: str
    # An answered call, a stream that answered some batches before its error, or an outcome the
    # client could not tell: rows may have changed.
    may_have_written: bool


async def _call(target: Target, rpc: Rpc, requests: list[Message]) -> Outcome:
    channel = target.channels[rpc.owner]
    response_class = message_class(rpc.method.output_type)
    kwargs: dict[str, Any] = {
        "request_serializer": lambda message: message.SerializeToString(),
        "response_deserializer": response_class.FromString,
    }
    metadata = (("authorization", f"Bearer {target.partner_key}"),) if "PartnerAccrual" in rpc.service else ()
    answered = False
    try:
        if rpc.streams_requests:
            call = channel.stream_stream(rpc.path, **kwargs)(iter(requests), metadata=metadata, timeout=30)
            async for _ in call:
                answered = True
        else:
            await channel.unary_unary(rpc.path, **kwargs)(requests[0], metadata=metadata, timeout=30)
    except grpc.aio.AioRpcError as error:
        if server_status_lost(error):
            return Outcome("status lost by the client (grpc#36066)", may_have_written=True)
        if error.code() in NEVER:
            raise AssertionError(f"{rpc}: {error.code().name}: {error.details()}") from error
        return Outcome(error.code().name, may_have_written=answered)
    return Outcome("OK", may_have_written=True)


async def _one_example(target: Target, rpc: Rpc, requests: list[Message]) -> None:
    before = target.quiet or await target.counts.quiet()
    outcome = await _call(target, rpc, requests)
    TALLY.statuses[outcome.status] += 1
    after = await target.counts.snapshot()
    if not outcome.may_have_written:
        changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
        assert not changed, f"{rpc} refused with {outcome.status} but rows changed: {changed}"
        target.quiet = after
    else:
        TALLY.writes += int(after != before)
        target.quiet = None if after != before else after


def _on_loop(target: Target, work: Callable[[], Awaitable[T]]) -> T:
    future: Future[T] = asyncio.run_coroutine_threadsafe(work(), target.loop)  # type: ignore[arg-type]
    return future.result(timeout=120)


@pytest.mark.parametrize("rpc", platform_rpcs(), ids=str)
async def test_fuzzed_requests_never_answer_internal_and_refusals_write_nothing(
    target: Target, scale: Scale, rpc: Rpc
) -> None:
    request = messages(rpc.method.input_type, target.known)
    requests = st.lists(request, min_size=1, max_size=2) if rpc.streams_requests else request.map(lambda r: [r])

    @settings(
        max_examples=scale.fuzz_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests)
    def example(sent: list[Message]) -> None:
        _on_loop(target, lambda: _one_example(target, rpc, sent))

    await asyncio.to_thread(example)


def test_report_the_fuzzing() -> None:
    """One row in the run's table for all the fuzzed calls (runs after them: files run in order)."""
    total = sum(TALLY.statuses.values())
    if total:
        refused = total - TALLY.statuses["OK"]
        notes = ", ".join(f"{code} {n}" for code, n in TALLY.statuses.most_common())
        REPORTS.append(Report("fuzzed RPC requests", total, TALLY.statuses["OK"], refused, TALLY.writes, 0, 0, notes))
