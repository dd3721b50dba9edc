"""Wrapping the behaviour of a gRPC method handler, for the server interceptors."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

Behavior = Callable[..., Any]
Deserializer = Callable[[bytes], Any]


@dataclass(frozen=True)
class Undecodable:
    """A request message that did not parse (bytes that are no such message, a string that is not UTF-8).

    grpc ends a call whose deserializer raises with UNKNOWN, the status of a
    server fault, and logs an error; passed on as this instead, the error
    interceptor answers INVALID_ARGUMENT: the caller sent it.
    """

    message_type: str
    reason: str


def tolerant(deserializer: Deserializer | None) -> Deserializer | None:
    """The deserializer, answering Undecodable instead of raising."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    message_type = descriptor.full_name if descriptor is not None else "request"

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError as error:
            return Undecodable(message_type, str(error))

    return deserialize


def as_async_generator(behavior: Behavior) -> Behavior:
    """A response-streaming behaviour as an async generator function, whichever of grpc's styles it is written in.

    grpc takes either an async generator, whose yielded messages it sends, or a coroutine function that sends
    each message itself with `context.write` and returns None (grpc's own health service's Watch). A wrapper
    that iterates the behaviour's result needs the first: given the second, it got a coroutine, and the call
    failed. Run inside the generator, the coroutine's writes still go out, and it yields nothing itself.
    """
    if inspect.isasyncgenfunction(behavior):
        return behavior

    async def streamed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        result = behavior(request, context)
        if inspect.isawaitable(result):
            result = await result
        if result is not None:  # a plain function returning an async iterator of the responses
            async for response in result:
                yield response

    return streamed


def rewrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    unary_response: Callable[[Behavior], Behavior],
    stream_response: Callable[[Behavior], Behavior],
    request_deserializer: Callable[[Deserializer | None], Deserializer | None] = lambda deserializer: deserializer,
) -> grpc.RpcMethodHandler[Any, Any]:
    """The same handler with its behaviour wrapped: by `unary_response` or `stream_response`, as it answers.

    `stream_response` is given an async generator function, whatever style the handler was written in.
    """
    serializers = {
        "request_deserializer": request_deserializer(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), **serializers)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), **serializers)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            stream_response(as_async_generator(handler.unary_stream)), **serializers
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            stream_response(as_async_generator(handler.stream_stream)), **serializers
        )
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

    def wrap_deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        return deserializer

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
        wrapped = rewrap(
            handler,
            lambda b: self.wrap_unary(b, method),
            lambda b: self.wrap_stream(b, method),
            self.wrap_deserializer,
        )
        self._wrapped[method] = wrapped
        return wrapped
