"""Shared pieces of the benchmarks: a platform on free ports, load loops, an echo server, percentiles."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import psutil
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc, program_pb2, program_pb2_grpc

from services.common.embedded import free_port
from services.common.group_commit import GroupCommit
from services.dev import Platform

Call = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Figures:
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def line(self, label: str) -> str:
        return f"{label:<36} {self.rate:9.0f} calls/s   p50 {self.p50_ms:6.2f} ms   p99 {self.p99_ms:6.2f} ms"


def figures(latencies: list[float], seconds: float) -> Figures:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Figures(len(ordered), seconds, statistics.median(ordered) * 1000, p99 * 1000)


async def closed_loop(call: Call, *, clients: int, seconds: float) -> Figures:
    """`clients` callers, each calling again as soon as its last call returns, for `seconds`."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return figures(latencies, time.perf_counter() - started)


async def open_loop(call: Call, *, rate: float, seconds: float) -> Figures:
    """Calls started at a fixed `rate` whatever the latency (as real traffic arrives), for `seconds`."""
    latencies: list[float] = []

    async def timed() -> None:
        started = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - started)

    tasks = []
    started = time.perf_counter()
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(timed()))
    await asyncio.gather(*tasks)
    return figures(latencies, time.perf_counter() - started)


def _serve_echo(port: int, database_url: str | None) -> None:
    async def serve() -> None:
        server = grpc.aio.server()
        handler = _echo if database_url is None else await _durable_echo(database_url)
        echo = grpc.unary_unary_rpc_method_handler(handler)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bench.Echo", {"Echo": echo})])
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


async def _echo(request: bytes, context: object) -> bytes:
    return request


async def _durable_echo(database_url: str) -> Callable[[bytes, object], Awaitable[bytes]]:
    """An echo that commits each call's request to PostgreSQL before answering, concurrent calls sharing a
    transaction as RecordPurchase's do: the least one durable write per call costs on this stack."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_echo (request bytea NOT NULL)")

    async def write(requests: list[bytes]) -> list[bytes]:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute("INSERT INTO bench_echo SELECT unnest($1::bytea[])", requests)
        return requests

    batches: GroupCommit[bytes, bytes] = GroupCommit("bench_echo", write, conflict_keys=lambda _: ())

    async def echo(request: bytes, context: object) -> bytes:
        return await batches.submit(request)

    return echo


@dataclass(frozen=True)
class Echo:
    call: Call
    pid: int


@asynccontextmanager
async def echo_server(database_url: str | None = None) -> AsyncIterator[Echo]:
    """An empty gRPC server in its own process, like a service process; yields a call to it and its pid. With
    `database_url`, each call is first committed there (see `_durable_echo`)."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_echo, args=(port, database_url), daemon=True)
    process.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await channel.channel_ready()
            echo = channel.unary_unary("/bench.Echo/Echo")
            payload = b"x" * 64
            assert process.pid is not None
            yield Echo(lambda: echo(payload), process.pid)
    finally:
        process.terminate()
        process.join(5)


# Share of new traces the services record, as a production deployment samples (see docs/operations.md).
TRACE_SHARE = "0.01"


@asynccontextmanager
async def platform(**options: object) -> AsyncIterator[Platform]:
    """The platform as `loyalty dev` runs it, on free ports and a throwaway data directory, sampling 1% of traces."""
    sampling = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": TRACE_SHARE}
    with tempfile.TemporaryDirectory() as data_dir:
        running = Platform.on_free_ports(Path(data_dir), sampling, seed=False, **options)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


async def apply_program(running: Platform, definition: Path) -> program_pb2.Program:
    """Apply a program file, as `loyalty program apply` does; returns the program as the service read it."""
    async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel:
        programs = program_pb2_grpc.ProgramServiceStub(channel)
        text = await asyncio.to_thread(definition.read_text)
        applied = await programs.ApplyProgram(program_pb2.ApplyProgramRequest(definition=text))
    return applied.program.program


async def enroll_members(running: Platform, count: int) -> list[str]:
    members = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        for member_id in members:
            await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    return members


# -- where the CPU goes ------------------------------------------------------------------

Processes = Mapping[str, Callable[[], Sequence[psutil.Process]]]


class CpuMeter:
    """CPU seconds spent by groups of processes over a phase, per call: where a closed loop's ceiling comes from.

    Each group is listed afresh at the start and the end (PostgreSQL's backends
    come and go). A process that ended in between counts through its parent's
    children times when the parent is listed (PostgreSQL's autovacuum workers
    through the postmaster), else not at all.
    """

    def __init__(self, processes: Processes) -> None:
        self._processes = processes
        self._started: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._started = {group: _cpu_seconds(listed()) for group, listed in self._processes.items()}

    def per_call_ms(self, calls: int) -> dict[str, float]:
        spent = {}
        for group, listed in self._processes.items():
            before = self._started[group]
            now = _cpu_seconds(listed())
            spent[group] = sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())
        return {group: 1000 * seconds / max(calls, 1) for group, seconds in spent.items()}


def cpu_line(per_call_ms: Mapping[str, float]) -> str:
    shares = ", ".join(f"{group} {ms:.3f}" for group, ms in per_call_ms.items())
    return f"      CPU ms per call: {shares}"


def _cpu_seconds(processes: Sequence[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system + times.children_user + times.children_system
    return seconds


def this_process() -> list[psutil.Process]:
    return [psutil.Process()]


def postgres_processes(running: Platform) -> list[psutil.Process]:
    """The platform's PostgreSQL: its postmaster (first line of postmaster.pid) and every backend and worker."""
    assert running.postgres is not None, "the benchmarks run on the embedded PostgreSQL"
    postmaster = psutil.Process(int((running.postgres.pgdata / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def broker_processes(running: Platform) -> list[psutil.Process]:
    listener = f"tcp://{running.kafka_bootstrap}"
    return [p for p in psutil.process_iter(["cmdline"]) if listener in (p.info["cmdline"] or [])]


def service_processes(running: Platform, names: Sequence[str]) -> list[psutil.Process]:
    pids = [running.service_pid(name) for name in names]
    return [psutil.Process(pid) for pid in pids if pid is not None]
