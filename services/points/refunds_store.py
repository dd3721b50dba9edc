"""SQL for refunds and the points a member owes after one."""

from __future__ import annotations

import uuid
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
    refunded_minor: int
    reversed_points: int


@dataclass(frozen=True)
class RefundRow:
    refund_id: str
    purchase_id: str
    amount_minor: int
    points_reversed: int
    points_owed: int
    entry_id: uuid.UUID | None


async def refundable_purchase(connection: asyncpg.Connection, purchase_id: str) -> RefundablePurchase | None:
    record = await connection.fetchrow(
        """SELECT p.purchase_id, p.member_id, p.amount_minor, p.currency_code, p.points_earned, p.entry_id,
                  coalesce(sum(r.amount_minor), 0)::bigint AS refunded_minor,
                  coalesce(sum(r.points_reversed), 0)::bigint AS reversed_points
             FROM purchases p LEFT JOIN refunds r USING (purchase_id)
            WHERE p.purchase_id = $1
            GROUP BY p.purchase_id""",
        purchase_id,
    )
    return RefundablePurchase(**record) if record else None


async def find_refund(connection: asyncpg.Connection, refund_id: str) -> RefundRow | None:
    record = await connection.fetchrow(
        """SELECT refund_id, purchase_id, amount_minor, points_reversed, points_owed, entry_id
             FROM refunds WHERE refund_id = $1""",
        refund_id,
    )
    return RefundRow(**record) if record else None


async def insert_refund(
    connection: asyncpg.Connection,
    *,
    refund_id: str,
    purchase_id: str,
    amount_minor: int,
    points_reversed: int,
    points_owed: int,
    entry_id: uuid.UUID | None,
    occurred_at: datetime,
) -> RefundRow:
    await connection.execute(
        """INSERT INTO refunds (refund_id, purchase_id, amount_minor, points_reversed, points_owed, entry_id,
                                occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        refund_id,
        purchase_id,
        amount_minor,
        points_reversed,
        points_owed,
        entry_id,
        occurred_at,
    )
    return RefundRow(refund_id, purchase_id, amount_minor, points_reversed, points_owed, entry_id)


async def lot_of_entry(connection: asyncpg.Connection, entry_id: uuid.UUID) -> Lot | None:
    record = await connection.fetchrow(
        "SELECT lot_id, remaining, earned_at, available_at, expires_at FROM lots WHERE entry_id = $1", entry_id
    )
    return Lot(**record) if record else None


async def change_points_owed(connection: asyncpg.Connection, member_id: str, delta: int) -> None:
    await connection.execute("UPDATE members SET points_owed = points_owed + $2 WHERE member_id = $1", member_id, delta)
