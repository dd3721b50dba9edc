"""The inactivity sweep leaves a hold its points when the hold is taken while the sweep works through its batch.

A sweep locking members as one statement went, with its snapshot of their holds taken when it began, missed a hold
committed on a member it had yet to reach: the member's lots were made to expire at the pass's `now`, before the
hold, which then reserved nothing, lost its points and could not be captured (ExpiryJob._expire_inactive).

The interleaving is forced without sleeps: the test holds a row lock on a lot of a member the sweep reaches first,
so the statement waits there (as it would while working through a long batch) until the hold has committed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.common.errors import FailedPrecondition
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import assert_balanced, books, new_id, waiting_on_locks

DORMANT = (
    "id: dormant\nname: Dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24}\n"
)


async def dormant_member(app: PointsApplication, pool: asyncpg.Pool, member_id: str) -> None:
    """A member with 200 points who enrolled and last earned 26 months ago (the program takes them after 24)."""
    await app.enroll(Enrollment(member_id, "", "", ""))
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), datetime.now(UTC), ""))
    await pool.execute(
        """UPDATE members SET last_activity_at = now() - make_interval(months => 26),
                              enrolled_at = now() - make_interval(months => 26)
            WHERE member_id = $1""",
        member_id,
    )


async def test_a_hold_taken_while_the_inactivity_sweep_works_through_its_batch_keeps_its_points(
    pool: asyncpg.Pool,
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(DORMANT)
    app = PointsApplication(pool, 2, programs)
    ledger = LedgerApplication(pool, programs)
    suffix = uuid.uuid4().hex[:8]
    first, second = f"m-a-{suffix}", f"m-b-{suffix}"  # the sweep takes members in id order
    await dormant_member(app, pool, first)
    await dormant_member(app, pool, second)

    async with pool.acquire() as elsewhere:
        transaction = elsewhere.transaction()
        await transaction.start()
        # A lot of the first member is busy: the sweep's statement, having locked that member, waits on it.
        await elsewhere.execute("SELECT 1 FROM lots WHERE member_id = $1 FOR UPDATE", first)
        sweep = asyncio.create_task(ExpiryJob(pool, programs).run_once())
        await waiting_on_locks(pool, 1)
        # The second member is not locked yet: a hold is taken on their (still spendable) points and commits. (A
        # sweep that locked its whole batch first would make the hold wait for it instead, and refuse it after.)
        hold = asyncio.create_task(ledger.hold(second, 200, new_id("h"), timedelta(hours=1), "reward"))
        blocked = asyncio.create_task(waiting_on_locks(pool, 2))
        await asyncio.wait({hold, blocked}, return_when=asyncio.FIRST_COMPLETED)
        blocked.cancel()
        await transaction.rollback()
    await sweep
    try:
        held = await hold
    except FailedPrecondition:  # the hold waited for the sweep and found the points gone: that is fine too
        await ExpiryJob(pool, programs).run_once()  # posts what the pass skipped while the hold had the member
        assert_balanced(await books(pool, ledger, second))
        return

    # The hold was taken after the pass began: its points expire after it, and its capture spends them.
    assert held.status == "held"
    state = await books(pool, ledger, second)
    assert (state.held, state.available) == (200, 0)
    captured = await ledger.capture(str(held.hold.hold_id))
    assert captured.entry is not None and captured.entry.points == -200
    assert_balanced(await books(pool, ledger, second))
