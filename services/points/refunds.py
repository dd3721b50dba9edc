"""Refund use case: take back what a purchase earned, in proportion.

Points of the purchase that already expired are not taken again, and points
already spent follow the program's `refunds.spent_points` in force at the
refund, or at its purchase's occurred_at if that is later
(services/points/reversal.py). See services/points/settlement.py for how
later earnings settle either, and services/points/referrals.py for the
referral bonus a return within the pending window voids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.activity_time import MAX_FUTURE_SKEW
from services.common.db import taken_concurrently, unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.points import (
    awaiting_refunds_store,
    domain,
    ledger,
    referrals,
    referrals_store,
    refunds_store,
    store,
    tier_risk,
)
from services.points.program import SpentPoints
from services.points.program_application import ProgramApplication
from services.points.reversal import Reversal, take_back

SOURCE = "loyalty.points"
_REFUND_ID_TAKEN = "refund_id: already used for a different refund"
# The refund's ledger entry is keyed by its id, and written before the refund row.
_REFUND_ID_CONSTRAINTS = frozenset({"ledger_entries_idempotency_key_key", "refunds_pkey"})


@dataclass(frozen=True)
class RefundResult:
    refund: refunds_store.RefundRow
    entry: store.EntryRow | None
    duplicate: bool


class RefundApplication:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication) -> None:
        self._pool = pool
        self._programs = programs

    async def refund(self, refund: domain.Refund) -> RefundResult:
        async with unit_of_work(self._pool) as connection:
            return await self.refund_in(connection, refund)

    async def refund_in(self, connection: asyncpg.Connection, refund: domain.Refund) -> RefundResult:
        """refund inside a transaction the caller owns (a consumer's inbox transaction)."""
        domain.validate_refund(refund, domain.utc_now())
        purchase = await refunds_store.refundable_purchase(connection, refund.purchase_id)
        if purchase is None:
            # A caller can retry; a PurchaseRefunded event waits for its purchase instead (awaiting_refunds.py).
            raise NotFound(f"purchase_id: no purchase {refund.purchase_id!r} recorded (yet): retry once it is")
        return await self.refund_of_in(connection, refund, purchase)

    async def refund_of_in(
        self, connection: asyncpg.Connection, refund: domain.Refund, found: refunds_store.RefundablePurchase
    ) -> RefundResult:
        """refund_in of a validated refund whose purchase the caller `found`."""
        if refund.member_id and refund.member_id != found.member_id:
            raise InvalidArgument.single("member_id", "is not the member who made the purchase")
        # With the referrer: a return may void the referral bonus the purchase paid it.
        await referrals_store.lock_with_referrer(connection, found.member_id, found.purchase_id)
        # The time its points are judged at (pending, expired, held) is read once the member is ours: read before,
        # a hold or the end of a return window committed while this waited would be missed.
        now = domain.utc_now()
        previous = await refunds_store.find_refund(connection, refund.refund_id)
        if previous is not None:
            return await _repeat_of(connection, previous, refund, found.currency_code)
        # A refund id applies once, kept or recorded: one kept for its purchase (a PurchaseRefunded that came first)
        # is this refund only if it says the same; recorded now, it is no longer kept.
        kept = await awaiting_refunds_store.kept(connection, refund.refund_id)
        if kept is not None and (refusal := kept.refusal_of(refund)):
            raise AlreadyExists(refusal)
        # Read again under the member lock: a concurrent refund of the same purchase has committed by now.
        purchase = await refunds_store.refundable_purchase(connection, refund.purchase_id)
        assert purchase is not None
        _check_refundable(purchase, refund)
        points = ledger.points_to_reverse(
            earned=purchase.points_earned,
            paid_minor=purchase.amount_minor,
            refunded_before_minor=purchase.refunded_minor,
            refund_minor=refund.amount.amount_minor,
            reversed_before=purchase.reversed_points,
        )
        # One round trip: the version at the refund decides the policy, the one that priced the purchase (in force
        # at its occurred_at among those applied when it was recorded) its referral.
        version, priced_by = await self._programs.in_force_at_each(
            connection,
            None,
            [_policy_time(purchase, refund), purchase.occurred_at],
            applied_by=[None, purchase.recorded_at],
        )
        policy = version.program.spent_points if version else SpentPoints.DEBT
        reversal = Reversal(
            member_id=purchase.member_id,
            credit_entry_id=purchase.entry_id,
            points=points,
            forgiven_before=purchase.expired_before,
            kind="refund",
            idempotency_key=f"refund:{refund.refund_id}",
            description=f"refund {refund.refund_id} of purchase {purchase.purchase_id}",
        )
        with taken_concurrently(_REFUND_ID_CONSTRAINTS, _REFUND_ID_TAKEN):
            taken = await take_back(connection, reversal, now, policy)
            row = await refunds_store.insert_refund(
                connection,
                refund_id=refund.refund_id,
                purchase_id=purchase.purchase_id,
                member_id=purchase.member_id,
                amount_minor=refund.amount.amount_minor,
                points_reversed=points,
                points_owed=taken.owed,
                points_overdrawn=taken.overdrawn,
                points_expired=taken.expired,
                entry_id=taken.entry.entry_id if taken.entry else None,
                occurred_at=refund.occurred_at,
                purchase_counted_at=purchase.counted_at,
            )
        if kept is not None:
            await awaiting_refunds_store.forget(connection, refund.refund_id)
        reversed_event = events.PointsReversed(
            member_id=purchase.member_id,
            purchase_id=purchase.purchase_id,
            refund_id=refund.refund_id,
            points_taken=points - taken.owed - taken.expired,
            points_owed=taken.owed,
            ledger_entry_id=str(taken.entry.entry_id) if taken.entry else "",
            points_overdrawn=taken.overdrawn,
            points_expired=taken.expired,
            balance_after=await store.balance_of(connection, purchase.member_id),
        )
        envelope = new_envelope(reversed_event, subject=purchase.member_id, source=SOURCE, occurred_at=now)
        await add_event(connection, POINTS_EVENTS_TOPIC, envelope)
        await tier_risk.check_again(connection, purchase.member_id)
        await referrals.void_if_returned(
            connection,
            purchase_id=purchase.purchase_id,
            refund_id=refund.refund_id,
            left_paid=domain.Money(
                purchase.amount_minor - purchase.refunded_minor - refund.amount.amount_minor, purchase.currency_code
            ),
            left_points=purchase.points_earned - purchase.reversed_points - points,
            program=priced_by.program if priced_by else None,
            now=now,
        )
        return RefundResult(row, taken.entry, duplicate=False)


def _check_refundable(purchase: refunds_store.RefundablePurchase, refund: domain.Refund) -> None:
    if refund.amount.currency != purchase.currency_code:
        raise InvalidArgument.single("amount.currency_code", f"must be the purchase currency {purchase.currency_code}")
    if refund.occurred_at < purchase.occurred_at - MAX_FUTURE_SKEW:
        # The clocks that stamp purchases and refunds may be a day apart, as a purchase may be stamped a day ahead of
        # the service's: the till refunding it in real time dates the refund before that stamp. Not "before it was
        # recorded": a PurchaseRefunded sent after its PurchaseMade may be dated before a lagging consumer records it.
        raise InvalidArgument.single(
            "occurred_at",
            f"is more than 24 hours before the purchase's occurred_at {purchase.occurred_at.isoformat()}",
        )
    unrefunded = purchase.amount_minor - purchase.refunded_minor
    if refund.amount.amount_minor > unrefunded:
        raise FailedPrecondition(
            f"amount: {refund.amount.amount_minor} exceeds the {unrefunded} (minor units) not yet refunded"
        )


def _policy_time(purchase: refunds_store.RefundablePurchase, refund: domain.Refund) -> datetime:
    """When the version whose refunds.spent_points decides is read: at the refund, but never before the purchase's
    occurred_at. A refund of a purchase stamped ahead may be dated before the stamp (_check_refundable); read at
    the refund, the policy could come from a version that ended before the one the purchase was priced under."""
    return max(refund.occurred_at, purchase.occurred_at)


async def _repeat_of(
    connection: asyncpg.Connection, previous: refunds_store.RefundRow, refund: domain.Refund, purchase_currency: str
) -> RefundResult:
    """The first result again; the refund id with another purchase, amount or currency is another refund, refused
    as a purchase id reused with other details is. Its occurred_at is not compared: a retry may stamp it again.

    A recorded refund is in its purchase's currency (_check_refundable), so once `refund` names the same purchase,
    `purchase_currency` (that purchase's) is the currency the refund was recorded in.
    """
    differing = domain.refund_difference(
        refund, previous.purchase_id, domain.Money(previous.amount_minor, purchase_currency)
    )
    if differing is not None:
        raise AlreadyExists(f"refund_id: already recorded with a different {differing}")
    entry = await store.get_entry(connection, previous.entry_id) if previous.entry_id else None
    return RefundResult(previous, entry, duplicate=True)
