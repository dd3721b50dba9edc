"""The server interceptor that counts and times every gRPC call by method and status code."""

from __future__ import annotations

import asyncio
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
        ended: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as error:
            ended = error
            raise
        finally:
            _observe(method, context, ended, time.perf_counter() - started)

    return measured


def _measure_stream(behavior: Behavior, method: str) -> Behavior:
    async def measured(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        started = time.perf_counter()
        ended: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as error:
            ended = error
            raise
        finally:
            _observe(method, context, ended, time.perf_counter() - started)

    return measured


def _observe(
    method: str, context: grpc.aio.ServicerContext[Any, Any], ended: BaseException | None, seconds: float
) -> None:
    name = _code_name(context, ended)
    RPC_HANDLED.labels(method, name).inc()
    RPC_DURATION.labels(method, name).observe(seconds)


def _code_name(context: grpc.aio.ServicerContext[Any, Any], ended: BaseException | None) -> str:
    """An aborted call (or one that set its code) left the code on the context. A call the client gave up on
    (its deadline passed, or it cancelled) is the client's doing, not UNKNOWN: operators alert on UNKNOWN.

    A call past its deadline counts so even when its handler then ended without an error (a request stream
    that the deadline closed reads as simply ended): the client was answered DEADLINE_EXCEEDED, not OK."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return "DEADLINE_EXCEEDED"
    if ended is None:
        return "OK"
    return "CANCELLED" if isinstance(ended, asyncio.CancelledError) or context.cancelled() else "UNKNOWN"
