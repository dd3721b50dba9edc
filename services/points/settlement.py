"""What points settle first: points a refund could not take back because they were spent.

Under the debt policy they are owed off the books: a `debt_repayment` entry
takes them from the settling points. Under negative_balance the refund entry
already took them (the balance went negative): the settling points are drawn
for those refund entries, with no new entry, and the balance is back where
the entries say. Either way no lot goes negative and the books balance.

Two kinds of points settle: a new lot's, in the transaction that credits it,
and the refunded credit's own points once no hold keeps them. A refund cannot
take those while an open hold keeps them, and counts them as spent; when the
hold is released or runs out they are free again: at the release, at the
expiry job's next pass, the member's next hold, capture or debit, or credit
(before the new points), or at their expiry, whichever comes first.
Spending or expiring them while the member still owes what the refund could
not take would cost the member the same points twice. Under negative_balance
other points a hold frees then cover what is still overdrawn: no more
spendable than a new lot's while the overdraft lasts, they would otherwise
wait in their lot to expire. All run with the member locked.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.ids import new_id
from services.points import ledger, lots_store, refunds_store, store


async def settle_spent_refunds(
    connection: asyncpg.Connection,
    member: store.MemberRow,
    earned: store.EntryRow,
    now: datetime,
    *,
    overdraft_only: bool = False,
) -> int:
    """Settle debt and overdrafts from the lot of `earned`; returns the points repaid by entries (debt).

    A refunded credit's own points, freed by a hold that ran out since, settle first: new points settling
    in their place would leave those to be spent or to expire, and the member would lose the new points.
    `overdraft_only` for bonuses, adjustments and goodwill: they repay no debt, but they cover an overdraft as
    any new points do. Left in their lot while the balance is below zero they could never be spent, and would
    expire while the overdraft stayed.
    """
    if not (0 if overdraft_only else member.points_owed) and not member.points_overdrawn:
        return 0
    repaid_by_freed = await settle_freed(connection, member, now)
    settled_member = await store.get_member(connection, member.member_id)
    assert settled_member is not None
    owed = 0 if overdraft_only else settled_member.points_owed
    if not owed and not settled_member.points_overdrawn:
        return repaid_by_freed
    lot = await refunds_store.lot_of_entry(connection, earned.entry_id)
    assert lot is not None
    spent = refunds_store.Unsettled(member.member_id, owed, settled_member.points_overdrawn)
    settled = await _settle(
        connection,
        spent,
        ledger.Draw(lot.lot_id, lot.remaining),
        repayment_key=f"repay:{earned.entry_id}",
        source=earned.idempotency_key,
    )
    return repaid_by_freed + settled.repaid


async def settle_from_own_points(
    connection: asyncpg.Connection, expiring: Mapping[str, Sequence[ledger.Draw]], *, freed: bool = False
) -> tuple[dict[str, list[ledger.Draw]], dict[str, int]]:
    """Let points a hold no longer keeps (draws by member: about to expire, or freed) settle what members owe.

    Only a refunded credit's own points do, and only what its own refunds left unsettled: a refund could not
    take them because a hold kept them. Others are left as they were (to expire: a late credit that arrives
    expired was gone before the debt came). `freed` when a hold ended and gave them back, rather than their
    expiry came: the repayment says which. Returns the draws left, and the points repaid by entries, by member.
    """
    left = {member_id: list(draws) for member_id, draws in expiring.items()}
    repaid: dict[str, int] = {}
    unsettled = await refunds_store.unsettled_of(connection, [member for member, draws in left.items() if draws])
    if not unsettled:
        return left, repaid
    settling = await refunds_store.lots_of_unsettled_reversals(connection, [spent.member_id for spent in unsettled])
    for spent in unsettled:
        expiring_now: list[ledger.Draw] = []
        for draw in left[spent.member_id]:
            claim = settling.get(draw.lot_id)
            if claim is None:
                expiring_now.append(draw)
                continue
            own = refunds_store.Unsettled(spent.member_id, min(spent.owed, claim.owed), spent.overdrawn)
            settled = await _settle(
                connection,
                own,
                draw,
                repayment_key=f"repay:{'freed' if freed else 'expiry'}:{new_id()}",
                source=f"points of the reversed credit, {'freed by a hold' if freed else 'past their expiry'}",
                only_entries=claim.reversal_entries,
            )
            spent = refunds_store.Unsettled(
                spent.member_id, spent.owed - settled.repaid, spent.overdrawn - settled.covered
            )
            repaid[spent.member_id] = repaid.get(spent.member_id, 0) + settled.repaid
            expiring_now += settled.left
        left[spent.member_id] = expiring_now
    return left, repaid


async def settle_freed(connection: asyncpg.Connection, member: store.MemberRow, now: datetime) -> int:
    """Let a refunded credit's own points, freed by the hold that kept them from its refund, settle that refund;
    then, under negative_balance, any other points a hold freed cover what is still overdrawn.

    Released or run out, the hold no longer keeps them: left spendable while the member owes the refund they
    belong to, they would be spent twice. Other points it kept from the refund (another credit's) are no
    more spendable while the balance is overdrawn, and left in their lot they would expire while the overdraft
    stayed. Runs with the member locked, before anything reads what is available; returns the points repaid by
    entries (debt).
    """
    if not member.points_owed and not member.points_overdrawn:
        return 0
    repaid = await _settle_own_freed(connection, member, now)
    if member.points_overdrawn:
        await _cover_from_free_points(connection, member.member_id, now)
    return repaid


async def freed_to_settle(connection: asyncpg.Connection, member: store.MemberRow, now: datetime) -> bool:
    """Whether settle_freed would settle anything: a refunded credit's own points no open hold keeps while its
    refunds left points owed or overdrawn, or (overdrawn) spendable points no open hold needs. Reads only."""
    if not member.points_owed and not member.points_overdrawn:
        return False
    lots = await lots_store.open_lots(connection, member.member_id)
    holds = await lots_store.open_holds(connection, member.member_id, now)
    if member.points_overdrawn and ledger.free_points(lots, holds, now):
        return True
    settling = await refunds_store.lots_of_unsettled_reversals(connection, [member.member_id])
    return any(
        (claim.owed or member.points_overdrawn) and ledger.free_to_settle(lots, holds, lot_id, now)
        for lot_id, claim in settling.items()
    )


async def _settle_own_freed(connection: asyncpg.Connection, member: store.MemberRow, now: datetime) -> int:
    settling = await refunds_store.lots_of_unsettled_reversals(connection, [member.member_id])
    if not settling:
        return 0
    lots = await lots_store.open_lots(connection, member.member_id)
    holds = await lots_store.open_holds(connection, member.member_id, now)
    freed = ledger.free_of(lots, holds, settling, now)
    _, repaid = await settle_from_own_points(connection, {member.member_id: freed}, freed=True)
    return repaid.get(member.member_id, 0)


async def _cover_from_free_points(connection: asyncpg.Connection, member_id: str, now: datetime) -> None:
    """Cover what the member's refunds still overdraw from the spendable points no open hold needs.

    Nothing the member sees changes (what is available is those points less the overdraft either way), but
    the points no longer wait in their lots to expire.
    """
    unsettled = await refunds_store.unsettled_of(connection, [member_id])
    if not unsettled or not unsettled[0].overdrawn:
        return
    lots = await lots_store.open_lots(connection, member_id)
    holds = await lots_store.open_holds(connection, member_id, now)
    covered, _ = await _cover(connection, member_id, ledger.free_points(lots, holds, now))
    await refunds_store.add_spent_points(connection, member_id, owed=0, overdrawn=-covered)


async def _cover(
    connection: asyncpg.Connection,
    member_id: str,
    sources: Sequence[ledger.Draw],
    only_entries: Collection[uuid.UUID] | None = None,
) -> tuple[int, list[ledger.Draw]]:
    """Draw `sources` for the member's refund entries that overdrew, oldest first (of `only_entries` if given);
    returns the points covered and what is left of the sources."""
    uncovered = await refunds_store.uncovered_refund_entries(connection, member_id)
    if only_entries is not None:
        uncovered = [(entry_id, points) for entry_id, points in uncovered if entry_id in only_entries]
    draws, left = ledger.allot(sources, uncovered)
    await lots_store.apply_entries_draws(connection, draws)
    return sum(draw.points for _, draw in draws), left


@dataclass(frozen=True)
class _Settled:
    repaid: int
    covered: int
    left: list[ledger.Draw]


async def _settle(
    connection: asyncpg.Connection,
    spent: refunds_store.Unsettled,
    source_draw: ledger.Draw,
    *,
    repayment_key: str,
    source: str,
    only_entries: Collection[uuid.UUID] | None = None,
) -> _Settled:
    """From the points of `source_draw`: overdrafts first (oldest refund first, of `only_entries` if given), then
    the debt, by an entry."""
    left = [source_draw]
    covered = 0
    if spent.overdrawn:
        covered, left = await _cover(connection, spent.member_id, left, only_entries)
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
    return _Settled(repaid, covered, left)
