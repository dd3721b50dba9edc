"""SQL for refunds and the points a member owes after one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.points.ledger import Lot


@dataclass(frozen=True)
class RefundablePurchase:
    purchase_id: str
    member_id: str
    amount_minor: int
    currency_code: str
    points_earned: int
    entry_id: uuid.UUID | None
    occurred_at: datetime
    # When the service recorded it: versions applied later never re-price it.
    recorded_at: datetime
    # When it happened as the service counts it (tiers, activity, its refunds' window): its occurred_at, or for one
    # stamped ahead of the service's clock the instant before it was recorded (activity_time.counted_at).
    counted_at: datetime
    refunded_minor: int
    reversed_points: int
    # What earlier refunds did not take because those points had expired.
    expired_before: int


@dataclass(frozen=True)
class Unsettled:
    """What a member's refunds could not take because the points were spent: owed (debt) or overdrawn."""

    member_id: str
    owed: int
    overdrawn: int


@dataclass(frozen=True)
class RefundRow:
    refund_id: str
    purchase_id: str
    amount_minor: int
    points_reversed: int
    points_owed: int
    entry_id: uuid.UUID | None
    points_overdrawn: int = 0
    points_expired: int = 0


async def refundable_purchase(connection: asyncpg.Connection, purchase_id: str) -> RefundablePurchase | None:
    record = await connection.fetchrow(
        """SELECT p.purchase_id, p.member_id, p.amount_minor, p.currency_code, p.points_earned, p.entry_id,
                  p.occurred_at, p.recorded_at, coalesce(p.qualifies_at, p.occurred_at) AS counted_at,
                  coalesce(sum(r.amount_minor), 0)::bigint AS refunded_minor,
                  coalesce(sum(r.points_reversed), 0)::bigint AS reversed_points,
                  coalesce(sum(r.points_expired), 0)::bigint AS expired_before
             FROM purchases p LEFT JOIN refunds r USING (purchase_id)
            WHERE p.purchase_id = $1
            GROUP BY p.purchase_id""",
        purchase_id,
    )
    return RefundablePurchase(**record) if record else None


async def find_refund(connection: asyncpg.Connection, refund_id: str) -> RefundRow | None:
    record = await connection.fetchrow(
        """SELECT refund_id, purchase_id, amount_minor, points_reversed, points_owed, entry_id, points_overdrawn,
                  points_expired
             FROM refunds WHERE refund_id = $1""",
        refund_id,
    )
    return RefundRow(**record) if record else None


async def insert_refund(
    connection: asyncpg.Connection,
    *,
    refund_id: str,
    purchase_id: str,
    member_id: str,
    amount_minor: int,
    points_reversed: int,
    points_owed: int,
    points_overdrawn: int,
    points_expired: int,
    entry_id: uuid.UUID | None,
    occurred_at: datetime,
    purchase_counted_at: datetime,
) -> RefundRow:
    """`purchase_counted_at`: RefundablePurchase.counted_at, the window its purchase's points and spend count in."""
    await connection.execute(
        """INSERT INTO refunds (refund_id, purchase_id, amount_minor, points_reversed, points_owed, points_overdrawn,
                                points_expired, entry_id, occurred_at, member_id, purchase_occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        refund_id,
        purchase_id,
        amount_minor,
        points_reversed,
        points_owed,
        points_overdrawn,
        points_expired,
        entry_id,
        occurred_at,
        member_id,
        purchase_counted_at,
    )
    return RefundRow(
        refund_id, purchase_id, amount_minor, points_reversed, points_owed, entry_id, points_overdrawn, points_expired
    )


async def lot_of_entry(connection: asyncpg.Connection, entry_id: uuid.UUID) -> Lot | None:
    record = await connection.fetchrow(
        """SELECT l.lot_id, l.remaining, l.earned_at, l.available_at, l.expires_at, e.seq
             FROM lots l JOIN ledger_entries e USING (entry_id) WHERE l.entry_id = $1""",
        entry_id,
    )
    return Lot(**record) if record else None


async def expired_from_lot(connection: asyncpg.Connection, member_id: str, lot_id: uuid.UUID) -> int:
    """Points the member's expiry entries took from one of their lots."""
    expired = await connection.fetchval(
        """SELECT coalesce(sum(d.points), 0) FROM ledger_entries e JOIN lot_draws d USING (entry_id)
            WHERE e.member_id = $1 AND e.kind = 'expiry' AND d.lot_id = $2""",
        member_id,
        lot_id,
    )
    return int(expired)


async def add_spent_points(connection: asyncpg.Connection, member_id: str, *, owed: int, overdrawn: int) -> None:
    """Change what the member owes (debt) and what refunds overdrew; negative amounts settle them."""
    if owed or overdrawn:
        await connection.execute(
            """UPDATE members SET points_owed = points_owed + $2, points_overdrawn = points_overdrawn + $3
                WHERE member_id = $1""",
            member_id,
            owed,
            overdrawn,
        )


async def uncovered_refund_entries(connection: asyncpg.Connection, member_id: str) -> list[tuple[uuid.UUID, int]]:
    """Entries of refunds and partner cancellations that overdrew, oldest first, with the points no lot has given
    them yet."""
    records = await connection.fetch(
        """SELECT e.entry_id, (-e.points - coalesce(d.drawn, 0))::bigint AS uncovered
             FROM (SELECT entry_id FROM refunds WHERE member_id = $1 AND points_overdrawn > 0
                   UNION ALL
                   SELECT entry_id FROM partner_cancellations WHERE member_id = $1 AND points_overdrawn > 0) r
             JOIN ledger_entries e ON e.entry_id = r.entry_id
             LEFT JOIN LATERAL (SELECT sum(points) AS drawn FROM lot_draws WHERE entry_id = e.entry_id) d ON true
            WHERE -e.points > coalesce(d.drawn, 0)
            ORDER BY e.seq""",
        member_id,
    )
    return [(r["entry_id"], r["uncovered"]) for r in records]


async def unsettled_of(connection: asyncpg.Connection, member_ids: Sequence[str]) -> list[Unsettled]:
    """Of these members, those who owe points or whose refunds overdrew, with how many."""
    if not member_ids:
        return []
    records = await connection.fetch(
        """SELECT member_id, points_owed AS owed, points_overdrawn AS overdrawn FROM members
            WHERE member_id = ANY($1::text[]) AND (points_owed > 0 OR points_overdrawn > 0)
            ORDER BY member_id""",
        list(member_ids),
    )
    return [Unsettled(**record) for record in records]


@dataclass(frozen=True)
class SettlingLot:
    """A refunded credit's lot, and what its own refunds (or cancellation) left unsettled."""

    # Points they left owed, less what debt repayments already drew from this lot.
    owed: int
    # Their entries: only these may be covered from this lot.
    reversal_entries: frozenset[uuid.UUID]


async def lots_of_unsettled_reversals(
    connection: asyncpg.Connection, member_ids: Sequence[str]
) -> dict[uuid.UUID, SettlingLot]:
    """The lots of the members' credits (purchases, partner accruals) whose refunds or cancellation left points
    owed or overdrawn."""
    records = await connection.fetch(
        """WITH reversals AS (
                SELECT p.entry_id AS credit_entry, r.points_owed AS owed, r.entry_id AS reversal_entry
                  FROM refunds r JOIN purchases p USING (purchase_id)
                 WHERE r.member_id = ANY($1::text[]) AND (r.points_owed > 0 OR r.points_overdrawn > 0)
                UNION ALL
                SELECT a.entry_id, c.points_owed, c.entry_id
                  FROM partner_cancellations c JOIN partner_accruals a USING (partner_id, partner_transaction_id)
                 WHERE c.member_id = ANY($1::text[]) AND (c.points_owed > 0 OR c.points_overdrawn > 0))
           SELECT l.lot_id, sum(v.owed)::bigint - coalesce(min(repaid.points), 0) AS owed,
                  array_remove(array_agg(v.reversal_entry), NULL) AS reversal_entries
             FROM reversals v JOIN lots l ON l.entry_id = v.credit_entry
             LEFT JOIN LATERAL (
                  SELECT sum(d.points)::bigint AS points FROM ledger_entries e JOIN lot_draws d USING (entry_id)
                   WHERE e.member_id = l.member_id AND e.kind = 'debt_repayment' AND d.lot_id = l.lot_id) repaid ON true
            GROUP BY l.lot_id""",
        list(member_ids),
    )
    return {r["lot_id"]: SettlingLot(max(0, int(r["owed"])), frozenset(r["reversal_entries"])) for r in records}
