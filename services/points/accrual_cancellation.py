"""A partner cancels an accrual it sent (a cancelled flight, a stay not taken): what it credited is taken back.

The points come back as a refund's do (services/points/reversal.py): pending
or available from the accrual's own lot first, spent ones per the program's
`refunds.spent_points` in force now, expired ones not again. They stop
counting towards tiers in the window of the activity (the tier value
subtracts `partner_cancellations`). An accrual is cancelled at most once:
cancelling again answers the first cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.db import unit_of_work
from services.common.errors import NotFound, Violations, required_as
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.common.text_fields import check_line
from services.points import accrual_store, domain, store, tier_risk
from services.points.accrual_store import CancellationRow
from services.points.program import SpentPoints
from services.points.program_application import ProgramApplication
from services.points.reversal import Reversal, take_back

SOURCE = "loyalty.points"
MAX_REASON = 500


@dataclass(frozen=True)
class Cancellation:
    row: CancellationRow
    duplicate: bool

    @property
    def points_taken(self) -> int:
        return self.row.points_reversed - self.row.points_owed - self.row.points_expired


def _validate(transaction_id: str, reason: str) -> None:
    violations = Violations()
    if not domain.PURCHASE_ID_PATTERN.fullmatch(transaction_id):
        violations.add("partner_transaction_id", required_as(transaction_id, domain.ID_SHAPE))
    check_line(violations, "reason", reason, max_length=MAX_REASON, required=True)
    violations.raise_if_any()


class AccrualCancellations:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication) -> None:
        self._pool = pool
        self._programs = programs

    async def cancel(self, partner_id: str, transaction_id: str, reason: str) -> Cancellation:
        """Cancel the partner's accepted accrual; NotFound for one it never had accepted."""
        _validate(transaction_id, reason)
        async with unit_of_work(self._pool) as connection:
            accrual = await accrual_store.accrual_to_cancel(connection, partner_id, transaction_id)
            if accrual is None:
                raise NotFound(f"partner_transaction_id: no accrual {transaction_id!r} of yours was accepted")
            await store.get_member(connection, accrual.member_id, lock=True)
            # Read once the member is ours, as a refund's: see RefundApplication.refund_in.
            now = domain.utc_now()
            # Read under the member lock: a concurrent cancellation has committed by now.
            previous = await accrual_store.find_cancellation(connection, partner_id, transaction_id)
            if previous is not None:
                return Cancellation(previous, duplicate=True)
            version = await self._programs.in_force_in(connection, None, now)
            reversal = Reversal(
                member_id=accrual.member_id,
                credit_entry_id=accrual.entry_id,
                points=accrual.points,
                forgiven_before=0,
                kind="partner_cancel",
                idempotency_key=f"partner-cancel:{partner_id}:{transaction_id}",
                description=f"{partner_id} cancelled {transaction_id}: {reason}",
            )
            taken = await take_back(
                connection, reversal, now, version.program.spent_points if version else SpentPoints.DEBT
            )
            row = CancellationRow(
                partner_transaction_id=transaction_id,
                member_id=accrual.member_id,
                points_reversed=accrual.points,
                points_owed=taken.owed,
                points_overdrawn=taken.overdrawn,
                points_expired=taken.expired,
                entry_id=taken.entry.entry_id if taken.entry else None,
                cancelled_at=now,
            )
            await accrual_store.insert_cancellation(connection, partner_id, reason, accrual, row)
            cancellation = Cancellation(row, duplicate=False)
            balance = await store.balance_of(connection, accrual.member_id)
            await add_event(connection, POINTS_EVENTS_TOPIC, _reversed(partner_id, cancellation, balance))
            await tier_risk.check_again(connection, accrual.member_id)
            return cancellation


def _reversed(partner_id: str, cancellation: Cancellation, balance_after: int) -> EventEnvelope:
    row = cancellation.row
    event = events.PointsReversed(
        member_id=row.member_id,
        partner_id=partner_id,
        partner_transaction_id=row.partner_transaction_id,
        points_taken=cancellation.points_taken,
        points_owed=row.points_owed,
        points_overdrawn=row.points_overdrawn,
        points_expired=row.points_expired,
        ledger_entry_id=str(row.entry_id) if row.entry_id else "",
        balance_after=balance_after,
    )
    return new_envelope(event, subject=row.member_id, source=SOURCE, occurred_at=row.cancelled_at)
