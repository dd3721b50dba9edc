"""The status code a call is counted under, from what its context and its end say. Pure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest

from services.common.rpc_outcome import status_code_of


@dataclass
class Ended:
    """What a finished call's context tells: the code it set, its time left, whether the client cancelled it."""

    set_code: grpc.StatusCode | None = None
    left: float | None = None
    client_cancelled: bool = False

    def code(self) -> grpc.StatusCode | None:
        return self.set_code

    def time_remaining(self) -> float | None:
        return self.left

    def cancelled(self) -> bool:
        return self.client_cancelled


@pytest.mark.parametrize(
    ("context", "ended", "name"),
    [
        (Ended(set_code=grpc.StatusCode.INVALID_ARGUMENT), None, "INVALID_ARGUMENT"),
        (Ended(left=5.0), None, "OK"),
        # A request stream the deadline closed reads as ended: the client was still answered DEADLINE_EXCEEDED.
        (Ended(left=0.0), None, "DEADLINE_EXCEEDED"),
        (Ended(left=-0.5), asyncio.CancelledError(), "DEADLINE_EXCEEDED"),
        (Ended(left=3.0, client_cancelled=True), GeneratorExit(), "CANCELLED"),
        (Ended(left=3.0), asyncio.CancelledError(), "CANCELLED"),
        (Ended(left=3.0), RuntimeError("a defect"), "UNKNOWN"),
    ],
)
def test_a_call_is_counted_under_the_code_its_caller_saw(
    context: Ended, ended: BaseException | None, name: str
) -> None:
    assert status_code_of(context, ended).name == name  # type: ignore[arg-type]
