"""The grpc.health.v1 service of a gRPC server: readiness and liveness, checked or watched."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

LIVENESS = "liveness"
"""The health entry that is SERVING as long as the process answers (until it stops): for liveness probes, which
must not restart a service because its database is away. "" and each API's name are readiness."""

SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING


class ServerHealth(HealthServicer):  # type: ignore[misc]  # grpc_health is untyped
    """grpc's Health servicer (it keeps the statuses, answers Check and Watch) for a server whose APIs are
    `api_names`, with the server's readiness and liveness, and Watch calls that end when the server stops.

    A Watch call lasts until the client ends it: grpc's server, stopping, waited out its whole grace for a
    watcher (a client balancing by health watches each server), then cancelled the call anyway.
    """

    def __init__(self, api_names: Sequence[str]) -> None:
        super().__init__()
        self._readiness = ["", *api_names]
        self._watches: set[asyncio.Task[None]] = set()
        self._watches_ended = False

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """grpc's Watch (the status now, then each change, written with `context.write`) until the client ends
        the call or `end_watches` does: then it ends OK."""
        watch = asyncio.ensure_future(super().Watch(request, context))
        self._watches.add(watch)
        if self._watches_ended:
            watch.cancel()
        try:
            await asyncio.wait([watch])
        finally:
            self._watches.discard(watch)
            watch.cancel()  # the client ended the call, so this waiting was cancelled: the watch ends with it
        if not watch.cancelled():
            watch.result()  # its error, if it failed

    async def start(self) -> None:
        await self.set(LIVENESS, SERVING)
        await self._set_readiness(SERVING)

    async def set_ready(self, ready: bool) -> None:
        """Readiness: NOT_SERVING while the service cannot do its work. Ignored once stopping."""
        await self._set_readiness(SERVING if ready else NOT_SERVING)

    async def stop(self) -> None:
        """Every entry NOT_SERVING for good: watchers are told so, and load balancers stop sending calls."""
        await self.enter_graceful_shutdown()

    def end_watches(self) -> None:
        """End every Watch call, and any that comes later at once: the server is about to stop."""
        self._watches_ended = True
        for watch in self._watches:
            watch.cancel()

    async def _set_readiness(self, status: int) -> None:
        for name in self._readiness:
            await self.set(name, status)  # grpc's servicer ignores it once stopping
