"""Review: the inactivity sweep reads the member's open holds in the snapshot its statement began with, but locks
the members one at a time as it goes (a nested loop over the `dormant` CTE, FOR UPDATE SKIP LOCKED).

A hold taken on a dormant member that the statement has not reached yet commits unseen: the member's lots are then
made to expire at the pass's `now`, before the hold was taken, so the hold reserves nothing (a lot must be spendable
when a hold is taken to back it), the expiry takes all its points and it can no longer be captured. The module's
own docstring promises the opposite: "A hold taken since the pass began (`now`) keeps its points: they expire just
after it, never before, which would leave it backed by nothing".

The interleaving is forced without sleeps: the test holds a row lock on a lot of a member the sweep reaches first,
so the statement waits there (as it would while working through a long batch) until the hold has committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.errors import FailedPrecondition
from services.common.migrations import migrate
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import assert_balanced, books, new_id

DORMANT = (
    "id: dormant\nname: Dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24}\n"
)


@pytest.fixture
async def pool(create_database: Callable[[], Awaitable[str]]) -> AsyncIterator[asyncpg.Pool]:
    url = await create_database()
    await migrate(url, "points")
    pool = await create_pool(url, min_size=1, max_size=12)
    yield pool
    await pool.close()


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


async def waiting_on_locks(pool: asyncpg.Pool, count: int) -> None:
    for _ in range(500):
        waiting = await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited on a lock")


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
