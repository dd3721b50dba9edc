"""A refunded purchase's own points, kept by a hold past their expiry and freed since, settle the refund before a
new credit does, whatever comes first: the expiry job's pass or the member's next purchase.

docs/program.md (`refunds.spent_points`): once freed they settle what the refund left owed or overdrawn "at the
release, or ... the member's next ... credit (before the new points) ..., whichever comes first, rather than being
spent or expiring as well". services/points/settlement.py: "at their expiry, whichever comes first".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import (
    NEGATIVE_BALANCE_PROGRAM,
    assert_balanced,
    books,
    member_with_points,
    new_id,
)

HOUR = timedelta(hours=1)


async def purchase(app: PointsApplication, member_id: str, amount_minor: int) -> str:
    purchase_id = new_id("p")
    await app.record_purchase(Purchase(purchase_id, member_id, Money(amount_minor, "USD"), (), datetime.now(UTC), ""))
    return purchase_id


async def expire_while_held(pool: asyncpg.Pool, purchase_id: str, held_at: datetime) -> None:
    """The purchase's lot expires just after the hold was taken: spendable then, kept by the hold since."""
    await pool.execute(
        """UPDATE lots SET expires_at = $2::timestamptz + interval '1 millisecond'
            WHERE entry_id = (SELECT entry_id FROM purchases WHERE purchase_id = $1)""",
        purchase_id,
        held_at,
    )


@pytest.mark.parametrize("policy", ["debt", "negative_balance"])
async def test_a_purchase_after_a_released_hold_is_kept_when_the_refunded_points_it_freed_had_expired(
    pool: asyncpg.Pool, policy: str
) -> None:
    programs = ProgramApplication(pool)
    if policy == "negative_balance":
        await programs.apply(NEGATIVE_BALANCE_PROGRAM)
    app = PointsApplication(pool, 2, programs)
    ledger = LedgerApplication(pool, programs)
    refunds = RefundApplication(pool, programs)

    member_id = await member_with_points(app, 0)
    refunded = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 100, new_id("h"), HOUR, "reward")
    await expire_while_held(pool, refunded, hold.hold.created_at)
    # The hold keeps all 100: the refund takes none of them and counts them as spent.
    result = await refunds.refund(Refund(new_id("r"), refunded, Money(5000, "USD"), datetime.now(UTC)))
    assert (result.refund.points_owed, result.refund.points_overdrawn) == ((100, 0) if policy == "debt" else (0, 100))
    await ledger.release(str(hold.hold.hold_id))  # frees the refunded purchase's own (expired) 100

    await purchase(app, member_id, 2500)  # 50 new points, before the expiry job's next pass
    await ExpiryJob(pool, programs).run_once(datetime.now(UTC))

    # The refunded purchase's 100 settle its refund (the member lost them once); the new 50 are the member's.
    # Run the job's pass before the purchase instead, and the member keeps the 50 the same way.
    state = await books(pool, ledger, member_id)
    owed = await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id)
    assert (state.entries_sum, state.available, state.overdrawn, owed) == (50, 50, 0, 0)
    assert_balanced(state)
