"""Wrapping the behaviour of a gRPC method handler, for the server interceptors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

Behavior = Callable[..., Any]


def rewrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    unary_response: Callable[[Behavior], Behavior],
    stream_response: Callable[[Behavior], Behavior],
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behaviour wrapped: by `unary_response` or `stream_response`, as it answers."""
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **serializers)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **serializers)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream), **serializers)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream), **serializers)
    raise ValueError("a method handler without a behaviour")


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that wraps every method's behaviour, knowing the method's name."""

    def wrap_unary(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    def wrap_stream(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return rewrap(handler, lambda b: self.wrap_unary(b, method), lambda b: self.wrap_stream(b, method))
