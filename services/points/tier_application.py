"""Tier moves: upgrades right after qualifying activity, requalification when a tier's window ends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg
from babel.numbers import get_currency_precision
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.points import domain, store, tiers
from services.points.program import Program, TierBasis
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"


async def qualifying_value(
    connection: asyncpg.Connection, member_id: str, program: Program, now: datetime, since: datetime | None = None
) -> Decimal:
    """Points earned (less refunds) or money spent (less refunds, program currency) in the window ending now.

    `since` starts the count elsewhere: at the start of a later window, for what will still count then.
    """
    assert program.tiers is not None
    start = since or tiers.window_start(program.tiers, now, program.timezone)
    if program.tiers.basis is TierBasis.POINTS:
        earned = await connection.fetchval(
            """SELECT coalesce(sum(points), 0)::bigint FROM ledger_entries
                WHERE member_id = $1 AND kind IN ('purchase_earn', 'partner_earn', 'refund') AND created_at >= $2""",
            member_id,
            start,
        )
        return Decimal(earned)
    spent_minor = await connection.fetchval(
        """SELECT (SELECT coalesce(sum(amount_minor), 0) FROM purchases
                    WHERE member_id = $1 AND currency_code = $2 AND occurred_at >= $3)
                - (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds r JOIN purchases p USING (purchase_id)
                    WHERE p.member_id = $1 AND p.currency_code = $2 AND r.occurred_at >= $3)""",
        member_id,
        program.currency,
        start,
    )
    return Decimal(spent_minor).scaleb(-get_currency_precision(program.currency))


async def move_after_activity(
    connection: asyncpg.Connection, member: store.MemberRow, program: Program | None, now: datetime
) -> None:
    """Upgrade at once when the window's value reached a higher tier (the member row is locked)."""
    if program is None or program.tiers is None:
        return
    value = await qualifying_value(connection, member.member_id, program, now)
    change = tiers.upgrade(program.tiers, member.tier, value)
    if change is not None:
        await _apply(connection, member.member_id, change, program, now)


async def move_after_activities(
    connection: asyncpg.Connection, members: Sequence[store.MemberRow], program: Program | None, now: datetime
) -> None:
    """move_after_activity for many locked members at once: one query for all their points-basis values.

    Only points earned move a points-basis tier; under a spend basis, activity
    other than purchases (partner accruals) does not change the value.
    """
    if program is None or program.tiers is None or program.tiers.basis is not TierBasis.POINTS or not members:
        return
    start = tiers.window_start(program.tiers, now, program.timezone)
    records = await connection.fetch(
        """SELECT member_id, coalesce(sum(points), 0)::bigint AS earned FROM ledger_entries
            WHERE member_id = ANY($1::text[]) AND kind IN ('purchase_earn', 'partner_earn', 'refund')
              AND created_at >= $2
            GROUP BY member_id""",
        [m.member_id for m in members],
        start,
    )
    earned = {r["member_id"]: Decimal(r["earned"]) for r in records}
    for member in members:
        change = tiers.upgrade(program.tiers, member.tier, earned.get(member.member_id, Decimal(0)))
        if change is not None:
            await _apply(connection, member.member_id, change, program, now)


async def _apply(
    connection: asyncpg.Connection, member_id: str, change: tiers.TierChange, program: Program, now: datetime
) -> None:
    assert program.tiers is not None
    lowest = program.tiers.levels[0].name
    requalify_at = None if change.tier == lowest else tiers.next_requalification(program.tiers, now, program.timezone)
    await connection.execute(
        "UPDATE members SET tier = $2, tier_since = $3, requalify_at = $4 WHERE member_id = $1",
        member_id,
        change.tier,
        now,
        requalify_at,
    )
    fields = {
        "member_id": member_id,
        "tier": change.tier,
        "previous_tier": change.previous,
        "qualifying_value": str(change.qualifying_value),
    }
    event = events.TierReached(**fields) if change.upward(program.tiers) else events.TierLost(**fields)
    await add_event(
        connection, POINTS_EVENTS_TOPIC, new_envelope(event, subject=member_id, source=SOURCE, occurred_at=now)
    )


class RequalificationJob:
    """Checks members whose tier window ended: they keep, gain or lose (boundedly) their tier."""

    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication, *, batch: int = 500) -> None:
        self._pool = pool
        self._programs = programs
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> int:
        now = now or domain.utc_now()
        due = await self._pool.fetch(
            "SELECT member_id FROM members WHERE requalify_at <= $1 ORDER BY requalify_at LIMIT $2", now, self._batch
        )
        for record in due:
            await self._requalify(record["member_id"], now)
        return len(due)

    async def _requalify(self, member_id: str, now: datetime) -> None:
        async with unit_of_work(self._pool) as connection:
            member = await store.get_member(connection, member_id, lock=True)
            version = await self._programs.in_force_in(connection, None, now)
            if member is None or version is None or version.program.tiers is None:
                return
            program = version.program
            assert program.tiers is not None
            value = await qualifying_value(connection, member_id, program, now)
            change = tiers.requalify(program.tiers, member.tier, value)
            if change is not None:
                await _apply(connection, member_id, change, program, now)
            else:  # kept: checked again at the end of the new window
                await connection.execute(
                    "UPDATE members SET requalify_at = $2 WHERE member_id = $1",
                    member_id,
                    tiers.next_requalification(program.tiers, now, program.timezone),
                )
