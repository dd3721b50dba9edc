"""`loyalty health SERVICE`: the standard gRPC health check of one service, as a probe or a person runs it.

Kubernetes' built-in gRPC probe cannot speak TLS; this command can, with the
same settings as every other caller (`LOYALTY_GRPC_TLS_CA_FILE`), so an `exec`
probe keeps working when the service serves TLS. Exits 0 when the service
answers SERVING, 1 otherwise. By default it asks for readiness (the service's
overall health, "": NOT_SERVING while its database is away or it is stopping);
`--liveness` asks for the `liveness` entry, SERVING as long as the process
answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.server_health import LIVENESS
from services.common.settings import SERVICE_NAMES, grpc_tls_settings, service_settings
from services.common.tls import grpc_channel


async def check_health(
    address: str,
    *,
    server_name: str | None,
    timeout_s: float,
    service: str = "",
    env: Mapping[str, str] | None = None,
) -> str:
    """The status name (SERVING, NOT_SERVING, ...) of the health entry `service`, or what kept it from answering.

    The channel is the CLI's: TLS trusting LOYALTY_GRPC_TLS_CA_FILE when set, the caller token when set,
    both read from `env` (the process's environment by default).
    """
    env = os.environ if env is None else env
    async with grpc_channel(address, grpc_tls_settings(env), server_name=server_name, env=env) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}: {error.details()}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _run(args: argparse.Namespace) -> int:
    address = args.address or f"127.0.0.1:{service_settings(args.service, os.environ).grpc_port}"
    service = LIVENESS if args.liveness else ""
    status = asyncio.run(check_health(address, server_name=args.server_name, timeout_s=args.timeout, service=service))
    print(f"{args.service} at {address}: {status}", file=sys.stdout if status == "SERVING" else sys.stderr)
    return 0 if status == "SERVING" else 1


def add_health_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    health = commands.add_parser("health", help="check one service with the gRPC health protocol (exit 0: serving)")
    health.add_argument("service", choices=SERVICE_NAMES)
    health.add_argument("--address", help="host:port to call; by default 127.0.0.1 and the service's gRPC port")
    health.add_argument(
        "--server-name", help="the name the server's TLS certificate carries, when it is not the address's host"
    )
    health.add_argument(
        "--liveness",
        action="store_true",
        help="check that the process answers (for a liveness probe), not that it is ready to serve (its database up)",
    )
    health.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer (default 2)")
    health.set_defaults(run=_run)
