"""A stopping server refuses new calls UNAVAILABLE, and waits until they stop coming before grpc's own stop."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.common.errors import Unavailable
from services.common.grpc_server import Admission

METHOD = "/loyalty.points.v1.PointsService/RecordPurchase"


def test_an_open_server_takes_every_call() -> None:
    Admission().check(METHOD)


def test_a_closed_server_refuses_calls_unavailable_but_still_answers_health() -> None:
    admission = Admission()
    admission.close()

    with pytest.raises(Unavailable, match="stopping and did not run the call"):
        admission.check(METHOD)
    admission.check("/grpc.health.v1.Health/Check")


async def test_quiet_returns_once_no_call_came_for_the_quiet_time() -> None:
    admission = Admission()
    admission.close()
    started = time.monotonic()

    await asyncio.wait_for(admission.quiet(0.05, limit_s=30), timeout=30)

    assert time.monotonic() - started >= 0.05


async def test_quiet_waits_while_calls_keep_coming() -> None:
    admission = Admission()
    admission.close()
    quiet = asyncio.create_task(admission.quiet(1.0, limit_s=30))
    try:
        for _ in range(10):  # a call every 0.05 s, well inside the quiet time
            with pytest.raises(Unavailable):
                admission.check(METHOD)
            await asyncio.sleep(0.05)
            assert not quiet.done()
    finally:
        quiet.cancel()


async def test_quiet_gives_up_at_its_limit_though_calls_keep_coming() -> None:
    admission = Admission()
    admission.close()
    started = time.monotonic()

    async def calls() -> None:
        while True:
            with pytest.raises(Unavailable):
                admission.check(METHOD)
            await asyncio.sleep(0.01)

    caller = asyncio.create_task(calls())
    try:
        await asyncio.wait_for(admission.quiet(10.0, limit_s=0.3), timeout=30)
    finally:
        caller.cancel()
    assert time.monotonic() - started >= 0.3
