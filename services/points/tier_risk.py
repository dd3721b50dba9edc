"""The tier-at-risk job: warns members, before requalification, that they would lose their tier.

Once per requalification date, `warn_before` ahead of it, a member whose
value so far (counted from the start of the window that requalification
looks at) would not keep the tier gets a TierAtRisk event. `run_once(now)`
is one pass at a chosen time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.points import domain, store, tiers
from services.points.program_application import ProgramApplication
from services.points.tier_application import SOURCE, qualifying_value


class TierAtRiskJob:
    def __init__(
        self, pool: asyncpg.Pool, programs: ProgramApplication, *, warn_before: timedelta, batch: int = 500
    ) -> None:
        self._pool = pool
        self._programs = programs
        self._warn_before = warn_before
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> int:
        """Check the members whose requalification comes within `warn_before`; returns how many were warned."""
        now = now or domain.utc_now()
        due = await self._pool.fetch(
            """SELECT member_id FROM members
                WHERE requalify_at > $1 AND requalify_at <= $1 + $2::interval
                  AND at_risk_checked_for IS DISTINCT FROM requalify_at
                ORDER BY requalify_at LIMIT $3""",
            now,
            self._warn_before,
            self._batch,
        )
        warned = 0
        for record in due:
            warned += await self._check(record["member_id"], now)
        return warned

    async def _check(self, member_id: str, now: datetime) -> int:
        async with unit_of_work(self._pool) as connection:
            member = await store.get_member(connection, member_id, lock=True)
            requalify_at = await connection.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", member_id)
            version = await self._programs.in_force_in(connection, None, now)
            if member is None or requalify_at is None or version is None or version.program.tiers is None:
                return 0
            # Checked once per requalification date, warned or not: a value only grows toward it.
            await connection.execute(
                "UPDATE members SET at_risk_checked_for = requalify_at WHERE member_id = $1", member_id
            )
            program = version.program
            assert program.tiers is not None
            since = tiers.window_start(program.tiers, requalify_at, program.timezone)
            value = await qualifying_value(connection, member_id, program, now, since=since)
            risk = tiers.at_risk(program.tiers, member.tier, value)
            if risk is None:
                return 0
            event = events.TierAtRisk(
                member_id=member_id,
                tier=risk.tier,
                projected_tier=risk.projected_tier,
                requalify_at=timestamp(requalify_at),
                qualifying_value=str(value),
                needed_to_keep=str(risk.needed_to_keep),
            )
            envelope = new_envelope(event, subject=member_id, source=SOURCE, occurred_at=now)
            await add_event(connection, POINTS_EVENTS_TOPIC, envelope)
            return 1
