"""What new points settle first: points a refund could not take back because they were spent.

Under the debt policy they are owed off the books: a `debt_repayment` entry
takes them from the new lot. Under negative_balance the refund entry already
took them (the balance went negative): the new lot gives its points to those
refund entries' draws, with no new entry, and the balance is back where the
entries say. Either way no lot goes negative and the books balance. Runs
inside the transaction that credited `earned`, with the member locked.
"""

from __future__ import annotations

import asyncpg

from services.points import ledger, lots_store, refunds_store, store


async def settle_spent_refunds(connection: asyncpg.Connection, member: store.MemberRow, earned: store.EntryRow) -> int:
    """Settle debt and overdrafts from the lot of `earned`; returns the points repaid by entries (debt)."""
    if not member.points_owed and not member.points_overdrawn:
        return 0
    lot = await refunds_store.lot_of_entry(connection, earned.entry_id)
    assert lot is not None
    covered = await _cover_overdrafts(connection, member, lot)
    return await _repay_debt(connection, member, earned, lot, lot.remaining - covered)


async def _cover_overdrafts(connection: asyncpg.Connection, member: store.MemberRow, lot: ledger.Lot) -> int:
    if not member.points_overdrawn:
        return 0
    uncovered = await refunds_store.uncovered_refund_entries(connection, member.member_id)
    draws = ledger.cover_overdrafts(lot, uncovered)
    for refund_entry_id, draw in draws:
        await lots_store.apply_draws(connection, refund_entry_id, [draw])
    covered = sum(draw.points for _, draw in draws)
    await refunds_store.add_spent_points(connection, member.member_id, owed=0, overdrawn=-covered)
    return covered


async def _repay_debt(
    connection: asyncpg.Connection, member: store.MemberRow, earned: store.EntryRow, lot: ledger.Lot, left: int
) -> int:
    repaid = min(member.points_owed, left)
    if not repaid:
        return 0
    repayment = await store.insert_entry(
        connection,
        member_id=member.member_id,
        kind="debt_repayment",
        points=-repaid,
        idempotency_key=f"repay:{earned.entry_id}",
        description=f"repays points owed after a refund, from {earned.idempotency_key}",
    )
    await lots_store.apply_draws(connection, repayment.entry_id, [ledger.Draw(lot.lot_id, repaid)])
    await refunds_store.add_spent_points(connection, member.member_id, owed=-repaid, overdrawn=0)
    return repaid
