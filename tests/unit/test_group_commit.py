"""Group commit: how concurrent requests are gathered into batches, and how failures stay with their request."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from services.common.group_commit import GroupCommit

caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


class Recorder:
    """A batch runner that records its batches and holds each one until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.contexts: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def run(self, requests: list[str]) -> Sequence[str | Exception]:
        self.batches.append(list(requests))
        self.contexts.append(caller.get())
        await self.release.wait()
        if "explode" in requests and len(requests) > 1:
            raise RuntimeError("the whole batch failed")
        return [ValueError(f"bad {r}") if r.startswith("bad") or r == "explode" else f"done {r}" for r in requests]


def by_member(request: str) -> list[str]:
    return [request.split(":")[0]]


def by_member_and_purchase(request: str) -> list[tuple[str, str]]:
    """Points' conflict keys, from a request written "[tag:]member:purchase"."""
    *_, member, purchase = request.split(":")
    return [("member", member), ("purchase", purchase)]


async def test_a_request_alone_runs_at_once_in_a_batch_of_one() -> None:
    recorder = Recorder()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
    assert await commit.submit("a:1") == "done a:1"
    assert recorder.batches == [["a:1"]]


async def test_requests_arriving_while_a_batch_runs_share_the_next_batch() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
    first = asyncio.create_task(commit.submit("a:1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(commit.submit(f"{member}:1")) for member in "bcd"]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(first, *others)
    assert results == ["done a:1", "done b:1", "done c:1", "done d:1"]
    assert recorder.batches == [["a:1"], ["b:1", "c:1", "d:1"]]


async def test_the_requests_waiting_for_a_batch_are_a_gauge() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("queued-test", recorder.run, conflict_keys=by_member)
    tasks = [asyncio.create_task(commit.submit(r)) for r in ("a:1", "a:2", "b:1")]
    await asyncio.sleep(0)
    assert queued("queued-test") == 2  # a:1 runs; a:2 and b:1 wait for the next batch
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert queued("queued-test") == 0


def queued(use_case: str) -> float | None:
    return REGISTRY.get_sample_value("loyalty_group_commit_queued_requests", {"use_case": use_case})


async def test_requests_sharing_a_key_never_share_a_batch_and_keep_their_order() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
    tasks = [asyncio.create_task(commit.submit(r)) for r in ("x:0", "a:1", "a:2", "b:1", "a:3")]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert recorder.batches == [["x:0"], ["a:1", "b:1"], ["a:2"], ["a:3"]]


async def test_a_request_never_overtakes_an_earlier_one_that_shares_a_key_with_it() -> None:
    """B and C name the same purchase id; B came first, but its member is taken by A.

    B set aside must hold back its purchase id too: else C joins A's batch and commits before B, the later
    request wins the purchase id, and the one sent first is answered as the duplicate.
    """
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member_and_purchase)
    first = asyncio.create_task(commit.submit("x:p0"))  # runs alone while the others queue
    await asyncio.sleep(0)
    queued = [asyncio.create_task(commit.submit(r)) for r in ("m:p1", "m:p2", "n:p2")]  # A, B, C
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(first, *queued)
    assert recorder.batches == [["x:p0"], ["m:p1"], ["m:p2"], ["n:p2"]]


@settings(max_examples=200, deadline=None)
@given(
    queue=st.lists(st.tuples(st.sampled_from("mno"), st.sampled_from(["p1", "p2", "p3", "p4"])), max_size=12),
    max_batch=st.integers(min_value=1, max_value=13),
)
async def test_requests_sharing_a_key_run_in_the_order_they_came(queue: list[tuple[str, str]], max_batch: int) -> None:
    """Whatever the queue, of two requests sharing a key the earlier runs in a strictly earlier batch."""
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member_and_purchase, max_batch=max_batch)
    first = asyncio.create_task(commit.submit("blocker:x:p0"))  # runs alone while the others queue
    await asyncio.sleep(0)
    requests = [f"{i}:{member}:{purchase}" for i, (member, purchase) in enumerate(queue)]
    queued = [asyncio.create_task(commit.submit(r)) for r in requests]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await asyncio.gather(first, *queued) == [f"done {r}" for r in ["blocker:x:p0", *requests]]
    batch_of = {request: index for index, batch in enumerate(recorder.batches) for request in batch}
    keys = [set(by_member_and_purchase(r)) for r in requests]
    for later in range(len(requests)):
        for earlier in range(later):
            if keys[earlier] & keys[later]:
                assert batch_of[requests[earlier]] < batch_of[requests[later]], recorder.batches
    if max_batch >= len(requests):  # no needless wait: one sharing no key with an earlier one is in the first batch
        free = [r for i, r in enumerate(requests) if not any(keys[i] & keys[j] for j in range(i))]
        assert free == (recorder.batches[1] if requests else [])


async def test_batches_hold_at_most_max_batch_requests() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member, max_batch=2)
    tasks = [asyncio.create_task(commit.submit(f"m{i}:1")) for i in range(5)]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert [len(batch) for batch in recorder.batches] == [1, 2, 2]


async def test_a_request_error_is_raised_to_that_request_only() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
    tasks = [asyncio.create_task(commit.submit(r)) for r in ("x:0", "bad:1", "c:1")]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "done x:0" and results[2] == "done c:1"
    assert isinstance(results[1], ValueError)


async def test_a_failed_batch_runs_again_one_request_at_a_time() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
    tasks = [asyncio.create_task(commit.submit(r)) for r in ("x:0", "a:1", "explode", "b:1")]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "done x:0" and results[1] == "done a:1" and results[3] == "done b:1"
    assert isinstance(results[2], ValueError)
    assert recorder.batches[1:] == [["a:1", "explode", "b:1"], ["a:1"], ["explode"], ["b:1"]]


async def test_a_batch_runs_in_the_context_of_its_first_request() -> None:
    recorder = Recorder()
    recorder.release.clear()
    commit = GroupCommit("test", recorder.run, conflict_keys=by_member)

    async def submit_as(name: str, request: str) -> str:
        caller.set(name)
        return await commit.submit(request)

    tasks = [asyncio.create_task(submit_as(f"caller-{r}", r)) for r in ("x:0", "a:1", "b:1")]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert recorder.contexts == ["caller-x:0", "caller-a:1"]


async def test_the_refusal_of_a_request_its_caller_gave_up_on_is_not_reported_as_never_retrieved() -> None:
    # A client's deadline or cancel ends the call while its batch runs on: the batch still refuses the request,
    # and asyncio reported that refusal, which no one was left to read, as an error with a traceback.
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    saved = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        recorder = Recorder()
        recorder.release.clear()
        commit = GroupCommit("test", recorder.run, conflict_keys=by_member)
        call = asyncio.create_task(commit.submit("bad:1"))
        await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        recorder.release.set()
        assert await commit.submit("later:1") == "done later:1"  # run after the batch that refused bad:1
        del call
        gc.collect()
    finally:
        loop.set_exception_handler(saved)
    assert unhandled == []
