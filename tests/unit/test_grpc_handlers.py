"""A response-streaming behaviour reaches the interceptors' wrappers as an async generator, in either of grpc's
styles: yielding its messages, or writing them with `context.write` from a coroutine. Pure."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

from services.common.grpc_handlers import as_async_generator


class Written:
    """The part of a servicer context a writing behaviour uses: what it wrote, in order."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def write(self, message: Any) -> None:
        self.messages.append(message)


async def _yielding(request: str, context: Written) -> AsyncIterator[str]:
    yield f"{request}-1"
    yield f"{request}-2"


async def _writing(request: str, context: Written) -> None:
    await context.write(f"{request}-1")
    await context.write(f"{request}-2")


def _returning(request: str, context: Written) -> AsyncIterator[str]:
    return _yielding(request, context)


async def _run(behavior: Any) -> tuple[list[str], list[str]]:
    """What the wrapped behaviour yielded, and what it wrote."""
    wrapped = as_async_generator(behavior)
    assert inspect.isasyncgenfunction(wrapped)
    context = Written()
    yielded = [response async for response in wrapped("m", context)]
    return yielded, context.messages


def test_an_async_generator_is_left_as_it_is() -> None:
    assert as_async_generator(_yielding) is _yielding


async def test_a_coroutine_writing_its_messages_still_writes_them_and_yields_none() -> None:
    assert await _run(_writing) == ([], ["m-1", "m-2"])


async def test_a_function_returning_an_async_iterator_yields_its_messages() -> None:
    assert await _run(_returning) == (["m-1", "m-2"], [])
