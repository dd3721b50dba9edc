"""RecordPurchase over gRPC: throughput and latency next to an empty gRPC echo server, same run, same machine.

    python bench/grpc_record_purchase.py [--seconds 30] [--clients 64] [--rate 200] [--program FILE]

Prints, for the echo server (the ceiling) and RecordPurchase: closed-loop
throughput with `--clients` concurrent callers, and p50/p99 latency at a fixed
`--rate` of calls per second. Between the two, the same echo server committing
each call's request to the points database before answering (concurrent calls
sharing a transaction, as RecordPurchase's do): the floor one durable write a
call puts under any such service on this stack. RecordPurchase is measured twice: with the whole
platform running, and with the points service alone (its PostgreSQL and the
broker still there, its events still published). On a small machine the other
services, working through every PointsEarned event, and the broker serving
them take as much CPU as the points service itself; in production they run on
their own hosts. Under each closed loop it prints the CPU time each process
(or group of them) spent per call, which is where the closed loop's ceiling
comes from on a small machine.

Without `--program` purchases earn the flat base rate; with one (e.g.
examples/programs/hotel.yaml) they are priced by it, in its currency, and move
its tiers, which is what a configured program costs each purchase.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
from benchkit import (
    Call,
    CpuMeter,
    Figures,
    Processes,
    apply_program,
    broker_processes,
    closed_loop,
    cpu_line,
    echo_server,
    enroll_members,
    open_loop,
    platform,
    postgres_processes,
    service_processes,
    this_process,
)
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2_grpc

from services.client import record_purchase_request
from services.common.settings import SERVICE_NAMES
from services.dev import Platform

PRICE_MINOR = 1999
WARM_UP_S = 2


@dataclass(frozen=True)
class Measured:
    paced: Figures
    closed: Figures
    # CPU each group of processes spent per call in the closed loop.
    cpu_ms: dict[str, float]


async def measure(call: Call, cpu: CpuMeter, *, rate: float, clients: int, seconds: float) -> Measured:
    # Paced first: after the closed loop, consumers would still be working off its tens of
    # thousands of events, and that backlog is no part of a steady `rate` calls a second.
    await open_loop(call, rate=rate, seconds=WARM_UP_S)
    paced = await open_loop(call, rate=rate, seconds=seconds)
    cpu.start()
    closed = await closed_loop(call, clients=clients, seconds=seconds)
    return Measured(paced, closed, cpu.per_call_ms(closed.calls))


def platform_cpu(running: Platform, others: list[str]) -> CpuMeter:
    groups: Processes = {
        "points": lambda: service_processes(running, ["points"]),
        "PostgreSQL": lambda: postgres_processes(running),
        "broker": lambda: broker_processes(running),
        "load generator": this_process,
    }
    if others:
        groups = {**groups, "other services": lambda: service_processes(running, others)}
    return CpuMeter(groups)


async def _durable_echo(running: Platform, *, rate: float, clients: int, seconds: float) -> Measured:
    """The echo server committing each call to the points database first: a floor under any durable call."""
    async with echo_server(running.database_url("points")) as echo:
        cpu = CpuMeter(
            {
                "echo server": lambda: [psutil.Process(echo.pid)],
                "PostgreSQL": lambda: postgres_processes(running),
                "load generator": this_process,
            }
        )
        return await measure(echo.call, cpu, rate=rate, clients=clients, seconds=seconds)


async def main(seconds: float, clients: int, rate: float, program: Path | None) -> None:
    async with platform() as running:
        currency = (await apply_program(running, program)).currency if program else "USD"
        price = Money(amount_minor=PRICE_MINOR, currency_code=currency)
        members = itertools.cycle(await enroll_members(running, 200))
        async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel, echo_server() as echo:
            points = points_pb2_grpc.PointsServiceStub(channel)
            purchase: Call = lambda: points.RecordPurchase(record_purchase_request(next(members), price))  # noqa: E731
            echo_cpu = CpuMeter({"echo server": lambda: [psutil.Process(echo.pid)], "load generator": this_process})
            echoed = await measure(echo.call, echo_cpu, rate=rate, clients=clients, seconds=seconds)
            durable = await _durable_echo(running, rate=rate, clients=clients, seconds=seconds)
            others = [name for name in SERVICE_NAMES if name != "points"]
            whole = await measure(purchase, platform_cpu(running, others), rate=rate, clients=clients, seconds=seconds)
            for name in others:
                await running.stop_service(name)
            alone = await measure(purchase, platform_cpu(running, []), rate=rate, clients=clients, seconds=seconds)
    runs = [("RecordPurchase, whole platform", whole), ("RecordPurchase, points alone", alone)]
    print(f"program: {program or 'none (flat base rate)'}")
    print(f"closed loop, {clients} concurrent clients, {seconds:.0f} s each")
    print(echoed.closed.line("  echo server (ceiling)"))
    print(cpu_line(echoed.cpu_ms))
    for label, measured in [("echo writing each call durably", durable), *runs]:
        ratio = measured.closed.rate / echoed.closed.rate
        print(measured.closed.line(f"  {label}") + f"   ratio to ceiling {ratio:.2f}")
        print(cpu_line(measured.cpu_ms))
    print(f"open loop at {rate:.0f} calls/s, {seconds:.0f} s each")
    print(echoed.paced.line("  echo server (ceiling)"))
    for label, measured in [("echo writing each call durably", durable), *runs]:
        print(measured.paced.line(f"  {label}"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--program", type=Path, help="a program file to apply first (purchases are priced by it)")
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.clients, options.rate, options.program))
