"""Calls to a method the server does not have (a client built from a newer proto, a misspelled name): grpc answers
them UNIMPLEMENTED by itself, before any interceptor wraps a handler, so they left no span, no metric and no log
line. Here they are answered as grpc would, and counted, logged and traced.

The method's name is the caller's to choose: it is counted under one `method` label, UNKNOWN_METHOD, so that a
client cannot make series without end, and only the log line and the span show it, cut to SHOWN_LENGTH.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.propagate import extract

from services.common.grpc_handlers import as_async_generator
from services.common.rpc_outcome import measure_stream
from services.common.text_fields import clipped

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

UNKNOWN_METHOD = "unknown"
SHOWN_LENGTH = 200
# What grpc's own answer to such a call says.
_DETAILS = "Method not found!"


class UnknownMethodInterceptor(grpc.aio.ServerInterceptor):
    """The outermost interceptor: every other one has passed on the call when no handler is found for it.

    Its handler streams both ways, which serves a call of any kind: it ends the call without reading a request.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is not None:
            return handler
        return grpc.stream_stream_rpc_method_handler(_traced(clipped(handler_call_details.method, SHOWN_LENGTH)))


def _traced(method: str) -> Callable[..., AsyncIterator[Any]]:
    measured = measure_stream(as_async_generator(_unimplemented), UNKNOWN_METHOD)

    async def traced(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        # A server span as OpenTelemetry's interceptor makes for the other calls, under the caller's trace, but
        # named for no method: span names are meant to be few.
        caller = extract(dict(context.invocation_metadata() or ()))
        attributes = {"rpc.system": "grpc", "rpc.method": method}
        with tracer.start_as_current_span(
            f"{UNKNOWN_METHOD} method", context=caller, kind=trace.SpanKind.SERVER, attributes=attributes
        ):
            log.warning("call to an unknown method", extra={"method": method, "peer": context.peer()})
            async for response in measured(requests, context):
                yield response

    return traced


async def _unimplemented(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, _DETAILS)
