"""The expiry job: takes expired points off with expiry entries and reminds members before points expire.

It runs periodically in the points service; `run_once(now)` is one pass, so
tests and operators can run it at a chosen time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.points import domain, ledger, lots_store, store
from services.points.program import add_months
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"


@dataclass(frozen=True)
class ExpiryReport:
    members_expired: int
    points_expired: int
    members_reminded: int


class ExpiryJob:
    def __init__(
        self,
        pool: asyncpg.Pool,
        programs: ProgramApplication,
        *,
        remind_before: timedelta = timedelta(days=30),
        batch: int = 500,
    ) -> None:
        self._pool = pool
        self._programs = programs
        # The program's expiry.reminder_days, when it sets one, wins over this default.
        self._remind_before = remind_before
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> ExpiryReport:
        now = now or domain.utc_now()
        async with self._pool.acquire() as connection:
            version = await self._programs.in_force_in(connection, None, now)
        policy = version.program.expiry if version else None
        if policy and policy.inactivity_months:
            await self._expire_inactive(now, add_months(now, -policy.inactivity_months))
        expired_points = 0
        members = await self._members_with_expired_lots(now)
        for member_id in members:
            expired_points += await self._expire_member(member_id, now)
        remind_before = self._remind_before
        if policy and policy.reminder_days is not None:
            remind_before = timedelta(days=policy.reminder_days)
        reminded = await self._remind(now, remind_before)
        return ExpiryReport(len(members), expired_points, reminded)

    async def _expire_inactive(self, now: datetime, last_active_before: datetime) -> None:
        """Inactivity policy: every lot of a member who earned nothing since `last_active_before` expires now."""
        await self._pool.execute(
            """UPDATE lots SET expires_at = $1
                WHERE remaining > 0 AND (expires_at IS NULL OR expires_at > $1)
                  AND member_id IN (SELECT member_id FROM lots GROUP BY member_id HAVING max(earned_at) < $2)""",
            now,
            last_active_before,
        )

    async def _members_with_expired_lots(self, now: datetime) -> Sequence[str]:
        records = await self._pool.fetch(
            """SELECT DISTINCT member_id FROM lots
                WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= $1
                LIMIT $2""",
            now,
            self._batch,
        )
        return [r["member_id"] for r in records]

    async def _expire_member(self, member_id: str, now: datetime) -> int:
        async with unit_of_work(self._pool) as connection:
            await store.get_member(connection, member_id, lock=True)
            lots = await lots_store.open_lots(connection, member_id)
            draws = ledger.draws_to_expire(lots, await lots_store.held_points(connection, member_id, now), now)
            points = sum(draw.points for draw in draws)
            if not points:
                return 0
            entry = await store.insert_entry(
                connection,
                member_id=member_id,
                kind="expiry",
                points=-points,
                idempotency_key=f"expiry:{uuid.uuid4()}",
                description=f"{points} points expired",
            )
            await lots_store.apply_draws(connection, entry.entry_id, draws)
            expired = events.PointsExpired(member_id=member_id, points=points, ledger_entry_id=str(entry.entry_id))
            await add_event(
                connection,
                POINTS_EVENTS_TOPIC,
                new_envelope(expired, subject=member_id, source=SOURCE, occurred_at=now),
            )
            return points

    async def _remind(self, now: datetime, remind_before: timedelta) -> int:
        """One PointsExpiring per member for the lots entering the reminder window, each lot reminded once."""
        async with unit_of_work(self._pool) as connection:
            records = await connection.fetch(
                """WITH reminded AS (
                       UPDATE lots SET reminded_at = $1
                        WHERE remaining > 0 AND reminded_at IS NULL
                          AND expires_at > $1 AND expires_at <= $1 + $2::interval
                       RETURNING member_id, remaining, expires_at)
                   SELECT member_id, sum(remaining)::bigint AS points, min(expires_at) AS expires_at
                     FROM reminded GROUP BY member_id""",
                now,
                remind_before,
            )
            for record in records:
                expiring = events.PointsExpiring(
                    member_id=record["member_id"], points=record["points"], expires_at=timestamp(record["expires_at"])
                )
                envelope = new_envelope(expiring, subject=record["member_id"], source=SOURCE, occurred_at=now)
                await add_event(connection, POINTS_EVENTS_TOPIC, envelope)
        return len(records)
