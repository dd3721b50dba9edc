"""A refund (or a partner cancellation) judges the purchase's points at a time read once it has the member: one
that waited for the member while the return window ended and a hold reserved those points leaves the hold its points.

Judged at a time read before it waited, the points would still look pending (which holds never reserve), the
refund would take the points the hold reserved, and the hold, backed by nothing, could not be captured.

docs/program.md: "Points an open hold keeps are never taken and count as spent". The interleaving is forced
with a row lock on the member held by the test (no sleeps): the hold queues for the member first, the refund
second; the return window is then closed (the lot's available_at set to the database's clock) before the lock
is let go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import asyncpg

from services.points.accrual_application import AccrualApplication
from services.points.accrual_cancellation import AccrualCancellations
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund
from services.points.ledger_application import HoldResult, LedgerApplication
from services.points.partner_accrual import Rate, RawRecord, Status
from services.points.partner_application import PartnerApplication
from services.points.program import Rounding
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, member_with_points, new_id, waiting_on_locks

HOUR = timedelta(hours=1)
T = TypeVar("T")


async def hold_then_reverse_as_the_window_closes(
    pool: asyncpg.Pool, ledger: LedgerApplication, member_id: str, reverse: Callable[[], Awaitable[T]]
) -> tuple[HoldResult, T]:
    """A hold of the member's 100 pending points queues for the member, then `reverse` (its clock read already);
    the return window closes while both wait, so the points are available when the hold gets the member."""
    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        hold = asyncio.create_task(ledger.hold(member_id, 100, new_id("h"), HOUR, "reward"))
        await waiting_on_locks(pool, 1)
        reversal = asyncio.create_task(reverse())
        await waiting_on_locks(pool, 2)
        await blocker.execute("UPDATE lots SET available_at = clock_timestamp() WHERE member_id = $1", member_id)
        await transaction.commit()
    return await hold, await reversal


async def test_a_refund_that_waited_for_the_member_does_not_take_points_a_hold_reserved_meanwhile(
    pool: asyncpg.Pool,
) -> None:
    programs = ProgramApplication(pool)
    app = PointsApplication(pool, 2, programs)
    ledger = LedgerApplication(pool, programs)
    refunds = RefundApplication(pool, programs)
    member_id = await member_with_points(app, 0)
    purchase_id = new_id("p")
    await app.record_purchase(Purchase(purchase_id, member_id, Money(5000, "USD"), (), datetime.now(UTC), ""))
    # 100 points, pending in their return window (as a program's `pending.days` leaves them).
    await pool.execute("UPDATE lots SET available_at = now() + interval '1 day' WHERE member_id = $1", member_id)
    assert (await ledger.balances(member_id)).pending == 100

    held, refunded = await hold_then_reverse_as_the_window_closes(
        pool,
        ledger,
        member_id,
        lambda: refunds.refund(Refund(new_id("r"), purchase_id, Money(5000, "USD"), datetime.now(UTC))),
    )
    assert held.status == "held"

    # The hold reserved all 100 before the refund got the member: the refund can take none of them, and owes them.
    state = await books(pool, ledger, member_id)
    assert (refunded.refund.points_owed, state.available, state.held) == (100, 0, 100)
    assert_balanced(state)
    captured = await ledger.capture(str(held.hold.hold_id))
    assert captured.status == "captured"
    assert_balanced(await books(pool, ledger, member_id))


async def test_a_partner_cancellation_that_waited_for_the_member_does_not_take_points_a_hold_reserved_meanwhile(
    pool: asyncpg.Pool,
) -> None:
    """The same for CancelAccrual (services/points/accrual_cancellation.py reads its clock before its transaction)."""
    programs = ProgramApplication(pool)
    app = PointsApplication(pool, 2, programs)
    ledger = LedgerApplication(pool, programs)
    partner_id = new_id("air").lower()
    partners = PartnerApplication(pool)
    await partners.register(partner_id, "Sky Air", "airline")
    await partners.set_rate(partner_id, Rate("MILE", Decimal(1), Rounding.DOWN, datetime(2020, 1, 1, tzinfo=UTC)))
    member_id = await member_with_points(app, 0)
    today = datetime.now(UTC).date().isoformat()
    record = RawRecord("tx-1", member_id, "", "flight", today, "MILE", "100", "", False)
    (decision,) = await AccrualApplication(pool, programs).ingest(partner_id, [record])
    assert decision.status == Status.ACCEPTED
    await pool.execute("UPDATE lots SET available_at = now() + interval '1 day' WHERE member_id = $1", member_id)
    assert (await ledger.balances(member_id)).pending == 100

    cancellations = AccrualCancellations(pool, programs)
    held, cancelled = await hold_then_reverse_as_the_window_closes(
        pool, ledger, member_id, lambda: cancellations.cancel(partner_id, "tx-1", "cancelled")
    )
    assert held.status == "held"

    state = await books(pool, ledger, member_id)
    assert (cancelled.row.points_owed, state.available, state.held) == (100, 0, 100)
    assert_balanced(state)
    assert (await ledger.capture(str(held.hold.hold_id))).status == "captured"
