"""RecordPurchase over gRPC: throughput and latency next to an empty gRPC echo server, same run, same machine.

    python bench/grpc_record_purchase.py [--seconds 30] [--clients 64] [--rate 200]

Prints, for the echo server (the ceiling) and RecordPurchase on a running
points service: closed-loop throughput with `--clients` concurrent callers,
and p50/p99 latency at a fixed `--rate` of calls per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import grpc
from benchkit import Call, closed_loop, echo_server, enroll_members, open_loop, platform
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2_grpc

from services.client import record_purchase_request

PRICE = Money(amount_minor=1999, currency_code="USD")


async def main(seconds: float, clients: int, rate: float) -> None:
    async with platform() as running:
        members = itertools.cycle(await enroll_members(running, 200))
        async with grpc.aio.insecure_channel(running.grpc_address("points")) as channel, echo_server() as echo:
            points = points_pb2_grpc.PointsServiceStub(channel)
            purchase: Call = lambda: points.RecordPurchase(record_purchase_request(next(members), PRICE))  # noqa: E731
            # Paced first: after the closed loop, the other services would still be working off its
            # tens of thousands of events, and that backlog is no part of a steady 200 calls a second.
            await open_loop(echo, rate=rate, seconds=2)  # warm up both
            await open_loop(purchase, rate=rate, seconds=2)
            echo_paced = await open_loop(echo, rate=rate, seconds=seconds)
            purchase_paced = await open_loop(purchase, rate=rate, seconds=seconds)
            echo_max = await closed_loop(echo, clients=clients, seconds=seconds)
            purchase_max = await closed_loop(purchase, clients=clients, seconds=seconds)
    print(f"closed loop, {clients} concurrent clients, {seconds:.0f} s each")
    print(echo_max.line("  echo server (ceiling)"))
    print(purchase_max.line("  RecordPurchase"))
    print(f"  ratio to ceiling: {purchase_max.rate / echo_max.rate:.2f}")
    print(f"open loop at {rate:.0f} calls/s, {seconds:.0f} s each")
    print(echo_paced.line("  echo server (ceiling)"))
    print(purchase_paced.line("  RecordPurchase"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200)
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.clients, options.rate))
