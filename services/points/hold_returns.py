"""ReturnCapturedHold: a captured hold's points given back as they were (a cancelled redemption).

The capture drew the points from lots (lot_draws); the return puts them back
into those very lots, so they keep the expiry they had, and a refund of the
purchase that earned them finds them in its own lot. Its entry is a
`redemption_return`, which is not earned (lifetime_earned, tiers) nor
activity (migration 038): new points with a fresh term, or none, would turn
expiring points into lasting ones at each redeem-then-cancel. What the
member's refunds could not take while the points were spent settles from
them, as it would had they never been spent (settlement.settle_freed), and
those whose term ended meanwhile expire in the same transaction, as an
activity reported after its term does (expiry.expire_on_arrival).

A hold is returned once. Its key shares AdjustPoints' namespace: a
give-back made by AdjustPoints under the key before this call existed (the
rewards service's cancellations did so) is that return, never a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import taken_concurrently
from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import domain, ledger, lots_store, settlement, store
from services.points.expiry import expire_on_arrival

SOURCE = "loyalty.points"
KEY_TAKEN = "idempotency_key: already used for another return or adjustment"
_RETURNED_BEFORE = "hold_id: its points were already returned under another idempotency_key"


@dataclass(frozen=True)
class Giving:
    """What a ReturnCapturedHold call asks: under which key, why and by whom."""

    idempotency_key: str
    reason: str
    actor: str

    @property
    def description(self) -> str:
        return ledger.described(self.reason, self.actor)


@dataclass(frozen=True)
class ReturnResult:
    hold: lots_store.HoldRow
    entry: store.EntryRow
    points_expired: int
    duplicate: bool = False


def past_term(returned: Sequence[lots_store.Returned], now: datetime) -> int:
    """Of the points given back, those whose lot's term has ended: they expire as they are given back."""
    return sum(r.points for r in returned if r.expires_at is not None and r.expires_at <= now)


async def return_hold(
    connection: asyncpg.Connection,
    hold: lots_store.HoldRow,
    member: store.MemberRow,
    giving: Giving,
    now: datetime,
) -> ReturnResult:
    """Give the (locked) member's captured hold back, or answer the return made before."""
    previous = await _previous(connection, hold, giving, now)
    if previous is not None:
        return previous
    if (status := hold.status_at(now)) != "captured":
        raise FailedPrecondition(f"hold_id: the hold is {status}; only a captured hold's points can be returned")
    domain.require_open(member.member_id, member.status)
    entry, returned = await _give_back(connection, hold, giving, now)
    expired = await _settle_and_expire(connection, member, hold, giving, entry, returned, now)
    # What the expiry wrote, not what is past its term: an open hold may keep returned points past their term
    # (ledger.reservations), and those neither expire nor count. Capped by the returned points past their term, as
    # the same expiry also takes what of the member's other lots ended and was left for the job's next pass.
    points_expired = min(past_term(returned, now), expired)
    # Recorded after the expiry so that a repeat answers what it wrote (nothing reads this row before then).
    with taken_concurrently({"hold_returns_idempotency_key_key"}, KEY_TAKEN):
        given = lots_store.HoldReturn(hold.hold_id, giving.idempotency_key, entry.entry_id, points_expired)
        await lots_store.insert_hold_return(connection, given, now)
    return ReturnResult(hold, entry, points_expired)


async def _give_back(
    connection: asyncpg.Connection, hold: lots_store.HoldRow, giving: Giving, now: datetime
) -> tuple[store.EntryRow, list[lots_store.Returned]]:
    """The return's entry, and the capture's draws put back into their lots."""
    assert hold.capture_entry_id is not None  # a captured hold has its entry
    entry = await store.insert_entry(
        connection,
        member_id=hold.member_id,
        kind="redemption_return",
        points=hold.points,
        idempotency_key=f"return:{hold.hold_id}",
        description=giving.description,
    )
    returned = await lots_store.give_back_draws(connection, hold.capture_entry_id)
    assert sum(r.points for r in returned) == hold.points  # a capture draws all its hold's points
    return entry, returned


async def _settle_and_expire(
    connection: asyncpg.Connection,
    member: store.MemberRow,
    hold: lots_store.HoldRow,
    giving: Giving,
    entry: store.EntryRow,
    returned: list[lots_store.Returned],
    now: datetime,
) -> int:
    """Settle what the points owe first, then expire those past their term, and announce the return and what
    expired, in that order: each event's balance_after follows the one before (a repayment has no event).
    Returns the points expired (the EXPIRY entry's, announced by PointsExpired)."""
    await settlement.settle_freed(connection, member, now)
    balance = await store.balance_of(connection, hold.member_id)
    expired = await expire_on_arrival(connection, [(hold.member_id, r.expires_at) for r in returned], now)
    adjusted = events.PointsAdjusted(
        member_id=hold.member_id,
        points=hold.points,
        reason=giving.reason,
        actor=giving.actor,
        ledger_entry_id=str(entry.entry_id),
        balance_after=balance - expired.repaid(hold.member_id),
    )
    announced = new_envelope(adjusted, subject=hold.member_id, source=SOURCE, occurred_at=now)
    await add_events(connection, POINTS_EVENTS_TOPIC, [announced, *expired.announced])
    return expired.expired.get(hold.member_id, 0)


async def _previous(
    connection: asyncpg.Connection, hold: lots_store.HoldRow, giving: Giving, now: datetime
) -> ReturnResult | None:
    """The return this call repeats; None when there is none. ALREADY_EXISTS when the hold was returned under
    another key, or the key returned another hold or made an adjustment that was not this hold's give-back."""
    found = await lots_store.hold_returns_of(connection, hold.hold_id, giving.idempotency_key)
    this = next((given for given in found if given.hold_id == hold.hold_id), None)
    if this is None:
        if found:
            raise AlreadyExists(KEY_TAKEN)
        return await _given_back_by_adjustment(connection, hold, giving, now)
    if this.idempotency_key != giving.idempotency_key:
        raise AlreadyExists(_RETURNED_BEFORE)
    entry = await store.get_entry(connection, this.entry_id)
    assert entry is not None  # entries are never deleted
    if entry.description != giving.description:  # another reason or actor: another return, never applied
        raise AlreadyExists(KEY_TAKEN)
    return ReturnResult(hold, entry, this.points_expired, duplicate=True)


async def _given_back_by_adjustment(
    connection: asyncpg.Connection, hold: lots_store.HoldRow, giving: Giving, now: datetime
) -> ReturnResult | None:
    """The hold's points credited by AdjustPoints under this key (a cancellation begun before this call existed):
    recorded as its return and answered as one. None when the key made no adjustment."""
    entry = await store.find_entry_by_key(connection, ledger.adjustment_key(giving.idempotency_key))
    if entry is None:
        return None
    if (entry.member_id, entry.points, entry.description) != (hold.member_id, hold.points, giving.description):
        raise AlreadyExists(KEY_TAKEN)
    await lots_store.insert_hold_return(
        connection, lots_store.HoldReturn(hold.hold_id, giving.idempotency_key, entry.entry_id, 0), now
    )
    return ReturnResult(hold, entry, 0, duplicate=True)
