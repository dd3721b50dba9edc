"""The scheduler job: releases earnings summaries when due, greets birthdays, plans triggers that waited for
their member's enrolment, and sends messages held by quiet hours once they end.

It runs periodically in the notifications service; `run_once(now)` is one
pass at a chosen time, so tests and operators can run it at any moment.
Every step is idempotent: a summary is released once (its row is locked and
marked), a birthday is greeted once a year (the member's greeted year, and
the message's idempotency key), a scheduled message is sent once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.db import unit_of_work
from services.notifications import domain, store, triggers
from services.notifications.application import Batch, Notifier

Clock = Callable[[], datetime]
# 500 batches of 500: a quarter of a million rows per step and pass.
MAX_BATCHES_PER_PASS = 500


@dataclass(frozen=True)
class SchedulerReport:
    summaries_released: int
    birthdays_greeted: int
    messages_released: int


class SchedulerJob:
    """Each pass works through everything due, a batch per transaction, not one batch per interval: what quiet
    hours held overnight all goes out when they end."""

    def __init__(self, pool: asyncpg.Pool, notifier: Notifier, now: Clock, *, batch: int = 500) -> None:
        self._pool = pool
        self._notifier = notifier
        self._now = now
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> SchedulerReport:
        at = now or self._now()
        summaries = await self._drain(lambda: self._release_summaries(at))
        birthdays = await self._drain(lambda: self._greet_birthdays(at))
        await self._drain(lambda: self._in_transaction(self._notifier.release_held, at))
        released = await self._drain(lambda: self._in_transaction(self._notifier.release_due, at))
        return SchedulerReport(summaries, birthdays, released)

    async def _drain(self, step: Callable[[], Awaitable[Batch]]) -> int:
        """Run `step` until a batch comes back short; what its batches did, in all.

        Bounded, so that rows a step takes without taking them out of what is due (a bug) cannot keep a pass
        running for ever: the next pass goes on.
        """
        done = 0
        for _ in range(MAX_BATCHES_PER_PASS):
            batch = await step()
            done += batch.done
            if batch.taken < self._batch:
                break
        return done

    async def _in_transaction(
        self, step: Callable[[asyncpg.Connection, datetime, int], Awaitable[Batch]], now: datetime
    ) -> Batch:
        async with unit_of_work(self._pool) as connection:
            return await step(connection, now, self._batch)

    async def _release_summaries(self, now: datetime) -> Batch:
        """Due summaries become messages, unless the member is in quiet hours: then the summary stays open
        (and keeps collecting) until they end, so summaries never bunch up behind quiet hours."""
        released = 0
        async with unit_of_work(self._pool) as connection:
            due = await store.due_batches(connection, now, self._batch)
            for batch in due:
                preferences = await self._notifier.preferences_of(connection, batch.member_id)
                when = domain.send_at(now, preferences.zone, preferences.quiet_hours)
                if when > now:
                    await store.postpone_batch(connection, batch.batch_id, when)
                    continue
                await store.release_batch(connection, batch.batch_id, now)
                summary = triggers.earned_summary(
                    batch.member_id, str(batch.batch_id), batch.points, batch.earnings, batch.balance_after
                )
                await self._notifier.trigger(connection, summary, now)
                released += 1
        return Batch(taken=len(due), done=released)

    async def _greet_birthdays(self, now: datetime) -> Batch:
        async with unit_of_work(self._pool) as connection:
            due = await store.birthdays(
                connection, now, self._notifier.defaults.time_zone, store.dates_around(now), self._batch
            )
            for member_id, today in due:
                await store.mark_birthday_greeted(connection, member_id, today.year)
                await self._notifier.trigger(connection, triggers.birthday(member_id, today), now)
        return Batch(taken=len(due), done=len(due))
