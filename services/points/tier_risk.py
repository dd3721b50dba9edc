"""The tier-at-risk job: warns members, before requalification, that they would lose their tier.

Once per requalification date, `warn_before` ahead of it, a member whose
value so far (counted from the start of the window that requalification
looks at) would not keep the tier gets a TierAtRisk event. `run_once(now)`
is one pass at a chosen time. A member is checked once, since a value only
grows toward its date, except after a refund, which lowers it (`check_again`),
and under each program version that comes into force before the date, whose
rules may judge the member otherwise. A member is warned again only when the
warning would say something new (another projected tier, another figure
needed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.decimals import decimal_text
from services.common.events import new_envelopes, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import domain, tiers
from services.points.program_application import ProgramApplication
from services.points.tier_application import SOURCE, values_judged_at


class TierAtRiskJob:
    def __init__(
        self, pool: asyncpg.Pool, programs: ProgramApplication, *, warn_before: timedelta, batch: int = 500
    ) -> None:
        self._pool = pool
        self._programs = programs
        self._warn_before = warn_before
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> int:
        """Check every member whose requalification comes within `warn_before`, a batch per transaction.

        Returns how many were warned. A calendar-year program makes all of its
        members due at the same moment: a pass works through all of them.
        """
        now = now or domain.utc_now()
        warned = 0
        while True:
            checked, batch_warned = await self._check_batch(now)
            warned += batch_warned
            if checked < self._batch:
                return warned

    async def _check_batch(self, now: datetime) -> tuple[int, int]:
        """How many members were checked, and how many of them warned."""
        async with unit_of_work(self._pool) as connection:
            version = await self._programs.in_force_in(connection, None, now)
            if version is None or version.program.tiers is None:
                return 0, 0
            program = version.program
            assert program.tiers is not None
            # Members another transaction holds are left for the next pass: this never waits.
            due = await connection.fetch(
                """SELECT member_id, tier, requalify_at,
                          CASE WHEN at_risk_checked_for = requalify_at THEN at_risk_warning END AS warned
                     FROM members
                    WHERE requalify_at > $1 AND requalify_at <= $1 + $2::interval
                      AND (at_risk_checked_for IS DISTINCT FROM requalify_at
                           OR at_risk_checked_under IS DISTINCT FROM $3)
                    ORDER BY requalify_at LIMIT $4 FOR UPDATE SKIP LOCKED""",
                now,
                self._warn_before,
                version.version,
                self._batch,
            )
            if not due:
                return 0, 0
            values = await values_judged_at(connection, program, {r["member_id"]: r["requalify_at"] for r in due})
            warnings: list[str | None] = []
            risks = []
            for record in due:
                member_id = record["member_id"]
                risk = tiers.at_risk(program.tiers, record["tier"], values[member_id])
                warnings.append(_said(risk) if risk else None)
                if risk and warnings[-1] != record["warned"]:
                    risks.append(_warning(member_id, risk, record["requalify_at"], values[member_id]))
            await connection.execute(
                """UPDATE members m SET at_risk_checked_for = m.requalify_at, at_risk_checked_under = $3,
                                        at_risk_warning = c.warning
                     FROM unnest($1::text[], $2::text[]) AS c (member_id, warning)
                    WHERE m.member_id = c.member_id""",
                [record["member_id"] for record in due],
                warnings,
                version.version,
            )
            envelopes = new_envelopes([(risk, risk.member_id) for risk in risks], source=SOURCE, occurred_at=now)
            await add_events(connection, POINTS_EVENTS_TOPIC, envelopes)
            return len(due), len(risks)


async def check_again(connection: asyncpg.Connection, member_id: str) -> None:
    """After what lowered the member's value (a refund): the next pass checks the member again."""
    # The date and what the member was told are kept: a refund that changes nothing the warning says warns no one.
    await connection.execute(
        "UPDATE members SET at_risk_checked_under = NULL WHERE member_id = $1 AND at_risk_checked_under IS NOT NULL",
        member_id,
    )


def _said(risk: tiers.AtRisk) -> str:
    """What a warning tells the member, to warn again only when that changes."""
    return f"{risk.tier} -> {risk.projected_tier}, {risk.needed_to_keep} needed"


def _warning(member_id: str, risk: tiers.AtRisk, requalify_at: datetime, value: Decimal) -> events.TierAtRisk:
    return events.TierAtRisk(
        member_id=member_id,
        tier=risk.tier,
        projected_tier=risk.projected_tier,
        requalify_at=timestamp(requalify_at),
        qualifying_value=decimal_text(value),
        needed_to_keep=decimal_text(risk.needed_to_keep),
    )
