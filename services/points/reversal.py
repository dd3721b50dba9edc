"""Taking back what a credit earned: a refund of a purchase, a partner cancelling its accrual.

The points come from the credit's own lot first and never from held points,
less what already expired from that lot (the member lost those then). What no
lot gives was spent, and the program's `refunds.spent_points` decides: owed
and taken from later earnings (debt), or taken anyway, the balance going
negative (negative_balance). Either way the books balance.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.points import ledger, lots_store, refunds_store, store
from services.points.expiry import expire_due
from services.points.program import SpentPoints


@dataclass(frozen=True)
class Reversal:
    member_id: str
    # The credit whose points are taken back; its lot is drawn first. None when it earned none.
    credit_entry_id: uuid.UUID | None
    points: int
    # Points of that lot earlier reversals of the same credit already found expired.
    forgiven_before: int
    kind: str
    idempotency_key: str
    description: str


@dataclass(frozen=True)
class TakenBack:
    entry: store.EntryRow | None
    owed: int
    overdrawn: int
    expired: int


async def take_back(
    connection: asyncpg.Connection, reversal: Reversal, now: datetime, policy: SpentPoints
) -> TakenBack:
    """Draw the points back, for a member the caller has locked; an entry of `reversal.kind` for what is taken."""
    if reversal.points == 0:
        return TakenBack(None, 0, 0, 0)
    member_id = reversal.member_id
    # Points past their expiry that the expiry job has not reached yet were lost already: posted first, they are
    # forgiven as expired rather than taken, and what an expired lot still holds backs open holds.
    await expire_due(connection, [member_id], now)
    own = await refunds_store.lot_of_entry(connection, reversal.credit_entry_id) if reversal.credit_entry_id else None
    expired = 0
    if own is not None:
        expired = ledger.expired_to_forgive(
            points=reversal.points,
            own_remaining=own.remaining,
            expired_from_own=await refunds_store.expired_from_lot(connection, member_id, own.lot_id),
            forgiven_before=reversal.forgiven_before,
        )
    lots = await lots_store.open_lots(connection, member_id)
    others = [lot for lot in lots if own is None or lot.lot_id != own.lot_id]
    reserved = ledger.reserved_by_lot(lots, await lots_store.open_holds(connection, member_id, now))
    to_take = reversal.points - expired
    draws, spent = ledger.draw_for_refund(own, others, to_take, reserved, now)
    owed, overdrawn = (spent, 0) if policy is SpentPoints.DEBT else (0, spent)
    # Before the entry: the balance may only go as negative as what is recorded overdrawn.
    await refunds_store.add_spent_points(connection, member_id, owed=owed, overdrawn=overdrawn)
    entry = None
    if to_take > owed:
        entry = await store.insert_entry(
            connection,
            member_id=member_id,
            kind=reversal.kind,
            points=-(to_take - owed),
            idempotency_key=reversal.idempotency_key,
            description=reversal.description,
        )
        await lots_store.apply_draws(connection, entry.entry_id, draws)
    return TakenBack(entry, owed, overdrawn, expired)
