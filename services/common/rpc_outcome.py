"""The server interceptor that tells how every gRPC call ended: the status code its caller saw, counted and timed
by method and code, and set on the call's server span."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from services.common.grpc_handlers import Behavior, WrappingInterceptor
from services.common.metrics import RPC_DURATION, RPC_HANDLED

# The codes that are the server's failure, per the OpenTelemetry semantic conventions for gRPC servers: their
# spans' status is ERROR. The others (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) answer what the caller
# asked for, and leave it unset.
_SERVER_FAILURES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class RpcOutcomeInterceptor(WrappingInterceptor):
    """Placed inside OpenTelemetry's server interceptor, whose span is then the current one, and outside the error
    mapping, whose status it reads from the call's context. OpenTelemetry's interceptor only learns a status set
    through its own wrapper of the context (`abort`, `set_code`): an abort with `abort_with_status`, as the error
    mapping must to send google.rpc details, or a call the deadline ended, left its span saying OK."""

    def wrap_unary(self, behavior: Behavior, method: str) -> Behavior:
        return _measure_unary(behavior, method)

    def wrap_stream(self, behavior: Behavior, method: str) -> Behavior:
        return measure_stream(behavior, method)


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


def measure_stream(behavior: Behavior, method: str) -> Behavior:
    """The response-streaming `behavior`, counted and timed under the `method` label."""

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
    code = status_code_of(context, ended)
    RPC_HANDLED.labels(method, code.name).inc()
    RPC_DURATION.labels(method, code.name).observe(seconds)
    _set_on_server_span(code, context.details())


def status_code_of(context: grpc.aio.ServicerContext[Any, Any], ended: BaseException | None) -> grpc.StatusCode:
    """An aborted call (or one that set its code) left the code on the context. A call the client gave up on
    (its deadline passed, or it cancelled) is the client's doing, not UNKNOWN: operators alert on UNKNOWN.

    A call past its deadline counts so even when its handler then ended without an error (a request stream
    that the deadline closed reads as simply ended): the client was answered DEADLINE_EXCEEDED, not OK."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if ended is None:
        return grpc.StatusCode.OK
    if isinstance(ended, asyncio.CancelledError) or context.cancelled():
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _set_on_server_span(code: grpc.StatusCode, details: str | None) -> None:
    """The code as `rpc.grpc.status_code`, and for a server failure the span's status ERROR with the details the
    caller got (an INTERNAL's quotes only the trace id)."""
    span = trace.get_current_span()
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_FAILURES:
        span.set_status(Status(StatusCode.ERROR, f"{code.name}: {details}" if details else code.name))
