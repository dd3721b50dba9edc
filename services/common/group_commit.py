"""Group commit: concurrent requests gathered into batches that each run as one transaction.

A transaction costs a BEGIN, a COMMIT (with its WAL flush) and a statement per
step whatever it carries, so under load one transaction for many requests is
far cheaper than one each. A request never waits for a batch to fill: it
joins the next batch, which starts as soon as the one running ends. At low
load every batch holds one request and the latency is that of a plain
transaction; as load grows, batches grow by themselves. One batch at a time
makes the largest batches (measured with bench/grpc_record_purchase.py, it
gave half again the throughput of two at once), and is what lets each batch
see the one before's commit.

Requests that share a conflict key (the same member, the same idempotency
key) never share a batch, and the earlier always goes in the earlier batch:
each batch then sees the committed effect of the one before, exactly as one
transaction per request would. When a whole batch fails (a deadlock, a lost
connection), its requests run again one by one, so one bad request cannot take
the others down and nothing is half-written.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from services.common.metrics import GROUP_COMMIT_BATCH, GROUP_COMMIT_QUEUED

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Request, Result]):
    request: Request
    keys: frozenset[Hashable]
    # A batch runs in the context of its first request (its trace, for one); see `submit`.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    answer: asyncio.Future[Result] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[Request, Result]):
    def __init__(
        self,
        # Answers each request of a batch, in order: its result, or the error that request alone raises.
        name: str,
        run_batch: Callable[[list[Request]], Awaitable[Sequence[Result | Exception]]],
        *,
        conflict_keys: Callable[[Request], Iterable[Hashable]],
        max_batch: int = 100,
    ) -> None:
        self._batch_size = GROUP_COMMIT_BATCH.labels(name)
        self._queued = GROUP_COMMIT_QUEUED.labels(name)
        self._run_batch = run_batch
        self._conflict_keys = conflict_keys
        self._max_batch = max_batch
        self._queue: deque[_Waiting[Request, Result]] = deque()
        self._running: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        """Run `request` in the next batch; its own error is raised here, other requests' errors are not."""
        waiting: _Waiting[Request, Result] = _Waiting(request, frozenset(self._conflict_keys(request)))
        self._queue.append(waiting)
        self._queued.set(len(self._queue))
        self._start_next_batch()
        try:
            return await asyncio.shield(waiting.answer)
        except asyncio.CancelledError:
            # The caller gave up (a deadline, a cancel); its batch commits or refuses the request all the same.
            # A refusal no one is left to read would be reported by asyncio as an error never retrieved.
            waiting.answer.add_done_callback(_discard)
            raise

    def _start_next_batch(self) -> None:
        if self._queue and self._running is None:
            batch = self._next_batch()
            self._running = asyncio.create_task(self._run(batch), context=batch[0].context)
            self._running.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self._running = None
        self._start_next_batch()

    def _next_batch(self) -> list[_Waiting[Request, Result]]:
        """The oldest requests sharing no key with an earlier queued one, up to max_batch; the others keep their place.

        A request set aside reserves all its keys, not only the one that clashed: with points' (member, purchase id),
        A(m, p1) B(m, p2) C(n, p2) must not batch C with A, or C would commit p2 before B, which came first.
        """
        batch: list[_Waiting[Request, Result]] = []
        # The keys of every request looked at so far, whether it joined the batch or was set aside.
        reserved: set[Hashable] = set()
        kept: deque[_Waiting[Request, Result]] = deque()
        while self._queue and len(batch) < self._max_batch:
            waiting = self._queue.popleft()
            if waiting.keys & reserved:
                kept.append(waiting)
            else:
                batch.append(waiting)
            reserved |= waiting.keys
        kept.extend(self._queue)
        self._queue = kept
        self._queued.set(len(kept))
        return batch

    async def _run(self, batch: list[_Waiting[Request, Result]]) -> None:
        self._batch_size.observe(len(batch))
        try:
            outcomes = await self._run_batch([waiting.request for waiting in batch])
        except Exception as error:
            if len(batch) == 1:
                _answer(batch[0], error)
                return
            for waiting in batch:  # alone, so only the request at fault fails
                await self._run([waiting])
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _answer(waiting, outcome)


def _answer(waiting: _Waiting[Request, Result], outcome: Result | Exception) -> None:
    if waiting.answer.done():
        return
    if isinstance(outcome, Exception):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)


def _discard(answer: asyncio.Future[Any]) -> None:
    if not answer.cancelled():
        answer.exception()
