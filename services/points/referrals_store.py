"""SQL for referral payments: which purchase paid a referral, and the bonus lots a return may still void."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.points.ledger import Lot


@dataclass(frozen=True)
class PendingBonus:
    """A referral bonus lot not yet available: what a return within the window voids."""

    member_id: str
    idempotency_key: str
    lot: Lot


async def was_paid(connection: asyncpg.Connection, referee_id: str, bonus_keys: Sequence[str]) -> bool:
    """Whether the referee's referral was paid: its payment is listed, or (paid before payments were listed)
    one of its bonus entries exists.

    A bonus entry alone cannot tell: a payment with nobody to credit (a closed
    referrer, a program paying the referrer alone) writes no entry.
    """
    paid: bool = await connection.fetchval(
        """SELECT EXISTS (SELECT 1 FROM referral_payments WHERE referee_id = $1)
               OR EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key = ANY($2::text[]))""",
        referee_id,
        list(bonus_keys),
    )
    return paid


async def record_payment(connection: asyncpg.Connection, referee_id: str, purchase_id: str) -> None:
    await connection.execute(
        "INSERT INTO referral_payments (referee_id, purchase_id) VALUES ($1, $2)", referee_id, purchase_id
    )


async def lock_with_referrer(connection: asyncpg.Connection, member_id: str, purchase_id: str) -> None:
    """Lock the member who made the purchase and, when the purchase paid a referral a return may still void,
    the referrer too, in member id order in one statement (see services/points/referrals.py)."""
    await connection.execute(
        """SELECT 1 FROM members
            WHERE member_id IN ($1, (SELECT b.referrer_member_id
                                       FROM referral_payments r JOIN members b ON b.member_id = r.referee_id
                                      WHERE r.purchase_id = $2 AND r.referee_id = $1 AND r.voided_by IS NULL))
            ORDER BY member_id FOR UPDATE""",
        member_id,
        purchase_id,
    )


async def unvoided_referee_of(connection: asyncpg.Connection, purchase_id: str) -> str | None:
    """The referee whose referral this purchase paid, unless a return voided it already."""
    referee: str | None = await connection.fetchval(
        "SELECT referee_id FROM referral_payments WHERE purchase_id = $1 AND voided_by IS NULL", purchase_id
    )
    return referee


async def pending_bonuses(connection: asyncpg.Connection, keys: Sequence[str], now: datetime) -> list[PendingBonus]:
    """The bonus lots of these entry keys that are still pending and hold points, in key order."""
    records = await connection.fetch(
        """SELECT e.member_id, e.idempotency_key, l.lot_id, l.remaining, l.earned_at, l.available_at, l.expires_at,
                  e.seq
             FROM ledger_entries e JOIN lots l ON l.entry_id = e.entry_id
            WHERE e.idempotency_key = ANY($1::text[]) AND l.available_at > $2 AND l.remaining > 0
            ORDER BY e.idempotency_key""",
        list(keys),
        now,
    )
    return [
        PendingBonus(
            r["member_id"],
            r["idempotency_key"],
            Lot(r["lot_id"], r["remaining"], r["earned_at"], r["available_at"], r["expires_at"], r["seq"]),
        )
        for r in records
    ]


async def mark_voided(connection: asyncpg.Connection, referee_id: str, refund_id: str) -> None:
    await connection.execute("UPDATE referral_payments SET voided_by = $2 WHERE referee_id = $1", referee_id, refund_id)
