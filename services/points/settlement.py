"""What points settle first: points a refund could not take back because they were spent.

Under the debt policy they are owed off the books: a `debt_repayment` entry
takes them from the settling points. Under negative_balance the refund entry
already took them (the balance went negative): the settling points are drawn
for those refund entries, with no new entry, and the balance is back where
the entries say. Either way no lot goes negative and the books balance.

Two kinds of points settle: a new lot's, in the transaction that credits it,
and the refunded credit's own points when they expire. A refund cannot take
those while an open hold keeps them, and counts them as spent; when the hold
is released or runs out they are free again, past their expiry or later.
Expiring them while the member still owes what the refund could not take
would cost the member the same points twice. Both run with the member locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from services.common.ids import new_id
from services.points import ledger, lots_store, refunds_store, store


async def settle_spent_refunds(connection: asyncpg.Connection, member: store.MemberRow, earned: store.EntryRow) -> int:
    """Settle debt and overdrafts from the lot of `earned`; returns the points repaid by entries (debt)."""
    if not member.points_owed and not member.points_overdrawn:
        return 0
    lot = await refunds_store.lot_of_entry(connection, earned.entry_id)
    assert lot is not None
    spent = refunds_store.Unsettled(member.member_id, member.points_owed, member.points_overdrawn)
    repaid, _ = await _settle(
        connection,
        spent,
        [ledger.Draw(lot.lot_id, lot.remaining)],
        repayment_key=f"repay:{earned.entry_id}",
        source=earned.idempotency_key,
    )
    return repaid


async def settle_from_expiring(
    connection: asyncpg.Connection, expiring: Mapping[str, Sequence[ledger.Draw]]
) -> dict[str, list[ledger.Draw]]:
    """Let the points about to expire (draws by member) settle what their members owe; what is left expires.

    Only the points of a credit whose own reversal left points unsettled do: a refund could not take them because
    a hold kept them. Others expire as usual: a late credit that arrives expired was gone before the debt came.
    """
    left = {member_id: list(draws) for member_id, draws in expiring.items()}
    unsettled = await refunds_store.unsettled_of(connection, [member for member, draws in left.items() if draws])
    if not unsettled:
        return left
    settling = await refunds_store.lots_of_unsettled_reversals(connection, [spent.member_id for spent in unsettled])
    for spent in unsettled:
        draws = left[spent.member_id]
        _, unused = await _settle(
            connection,
            spent,
            [draw for draw in draws if draw.lot_id in settling],
            repayment_key=f"repay:expiry:{new_id()}",
            source="points of the refunded credit, past their expiry",
        )
        left[spent.member_id] = [draw for draw in draws if draw.lot_id not in settling] + unused
    return left


async def _settle(
    connection: asyncpg.Connection,
    spent: refunds_store.Unsettled,
    sources: Sequence[ledger.Draw],
    *,
    repayment_key: str,
    source: str,
) -> tuple[int, list[ledger.Draw]]:
    """Overdrafts first, oldest refund first, then the debt; the points repaid by an entry and what is left."""
    left = list(sources)
    covered = 0
    if spent.overdrawn:
        uncovered = await refunds_store.uncovered_refund_entries(connection, spent.member_id)
        draws, left = ledger.allot(left, uncovered)
        await lots_store.apply_entries_draws(connection, draws)
        covered = sum(draw.points for _, draw in draws)
    repayment_id = new_id()
    repayment_draws, left = ledger.allot(left, [(repayment_id, spent.owed)])
    repaid = sum(draw.points for _, draw in repayment_draws)
    if repaid:
        repayment = store.NewEntry(
            member_id=spent.member_id,
            kind="debt_repayment",
            points=-repaid,
            idempotency_key=repayment_key,
            description=f"repays points owed after a refund, from {source}",
            entry_id=repayment_id,
        )
        await store.insert_entries(connection, [repayment])
        await lots_store.apply_entries_draws(connection, repayment_draws)
    await refunds_store.add_spent_points(connection, spent.member_id, owed=-repaid, overdrawn=-covered)
    return repaid, left
