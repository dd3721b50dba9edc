"""The server interceptor that counts and times every gRPC call by method and status code."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from services.common.grpc_handlers import Behavior, WrappingInterceptor
from services.common.metrics import RPC_DURATION, RPC_HANDLED


class RpcMetricsInterceptor(WrappingInterceptor):
    def wrap_unary(self, behavior: Behavior, method: str) -> Behavior:
        return _measure_unary(behavior, method)

    def wrap_stream(self, behavior: Behavior, method: str) -> Behavior:
        return _measure_stream(behavior, method)


def _measure_unary(behavior: Behavior, method: str) -> Behavior:
    async def measured(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            response = await behavior(request, context)
            failed = False
            return response
        finally:
            _observe(method, context, failed, time.perf_counter() - started)

    return measured


def _measure_stream(behavior: Behavior, method: str) -> Behavior:
    async def measured(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        started = time.perf_counter()
        failed = True
        try:
            async for response in behavior(request, context):
                yield response
            failed = False
        finally:
            _observe(method, context, failed, time.perf_counter() - started)

    return measured


def _observe(method: str, context: grpc.aio.ServicerContext[Any, Any], failed: bool, seconds: float) -> None:
    # An aborted call (or one that set its code) left the code on the context; anything else raised is UNKNOWN.
    code = context.code()
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN" if failed else "OK"
    RPC_HANDLED.labels(method, name).inc()
    RPC_DURATION.labels(method, name).observe(seconds)
