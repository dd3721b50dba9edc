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
    """A server interceptor that wraps every method's behaviour, knowing the method's name.

    A method's wrapped handler is made on its first call and kept: grpc asks
    the interceptors on every call, and wrapping anew each time cost a few per
    cent of a busy service's CPU. The handlers behind a server never change
    once it runs, so the kept one stays right.
    """

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def wrap_unary(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    def wrap_stream(self, behavior: Behavior, method: str) -> Behavior:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        wrapped = rewrap(handler, lambda b: self.wrap_unary(b, method), lambda b: self.wrap_stream(b, method))
        self._wrapped[method] = wrapped
        return wrapped
