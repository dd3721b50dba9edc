"""The scheduler job: releases earnings summaries when due, greets birthdays, plans triggers that waited for
their member's enrolment, and sends messages held by quiet hours once they end.

It runs periodically in the notifications service; `run_once(now)` is one
pass at a chosen time, so tests and operators can run it at any moment.
Every step is idempotent: a summary is released once (its row is locked and
marked), a birthday is greeted once a year (the member's greeted year, and
the message's idempotency key), a scheduled message is sent once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.db import unit_of_work
from services.notifications import domain, store, triggers
from services.notifications.application import Notifier

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SchedulerReport:
    summaries_released: int
    birthdays_greeted: int
    messages_released: int


class SchedulerJob:
    def __init__(self, pool: asyncpg.Pool, notifier: Notifier, now: Clock, *, batch: int = 500) -> None:
        self._pool = pool
        self._notifier = notifier
        self._now = now
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> SchedulerReport:
        now = now or self._now()
        summaries = await self._release_summaries(now)
        birthdays = await self._greet_birthdays(now)
        async with unit_of_work(self._pool) as connection:
            await self._notifier.release_held(connection, now, self._batch)
        async with unit_of_work(self._pool) as connection:
            released = await self._notifier.release_due(connection, now, self._batch)
        return SchedulerReport(summaries, birthdays, released)

    async def _release_summaries(self, now: datetime) -> int:
        """Due summaries become messages, unless the member is in quiet hours: then the summary stays open
        (and keeps collecting) until they end, so summaries never bunch up behind quiet hours."""
        released = 0
        async with unit_of_work(self._pool) as connection:
            for batch in await store.due_batches(connection, now, self._batch):
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
        return released

    async def _greet_birthdays(self, now: datetime) -> int:
        async with unit_of_work(self._pool) as connection:
            due = await store.birthdays(
                connection, now, self._notifier.defaults.time_zone, store.dates_around(now), self._batch
            )
            for member_id, year in due:
                await store.mark_birthday_greeted(connection, member_id, year)
                await self._notifier.trigger(connection, triggers.birthday(member_id, year), now)
        return len(due)
