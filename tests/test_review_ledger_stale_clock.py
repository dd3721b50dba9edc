"""Review: a refund reads its clock before it waits for the member's lock, then decides with that stale time
whether the purchase's points are still pending, and pending points are "never reserved" by a hold.

When the purchase's pending window ends while the refund waits for the member, and a hold taken in between
reserves those (now available) points, the refund takes the points the hold reserved: the hold is left backed
by nothing, the member's available balance goes negative and the hold can no longer be captured.

docs/program.md: "Points an open hold keeps are never taken and count as spent". The interleaving is forced
with a row lock on the member held by the test (no sleeps): the hold queues for the member first, the refund
second; the return window is then closed (the lot's available_at set to the database's clock) before the lock
is let go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.migrations import migrate
from services.points.accrual_application import AccrualApplication
from services.points.accrual_cancellation import AccrualCancellations
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.partner_accrual import Rate, RawRecord, Status
from services.points.partner_application import PartnerApplication
from services.points.program import Rounding
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, member_with_points, new_id

HOUR = timedelta(hours=1)


@pytest.fixture
async def pool(create_database: Callable[[], Awaitable[str]]) -> AsyncIterator[asyncpg.Pool]:
    url = await create_database()
    await migrate(url, "points")
    pool = await create_pool(url, min_size=1, max_size=12)
    yield pool
    await pool.close()


async def waiting_on_locks(pool: asyncpg.Pool, count: int) -> None:
    """Until `count` sessions of this database wait on a lock (the test's blocker holds it)."""
    for _ in range(500):
        waiting = await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited on a lock")


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

    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        hold = asyncio.create_task(ledger.hold(member_id, 100, new_id("h"), HOUR, "reward"))
        await waiting_on_locks(pool, 1)  # the hold queues for the member first
        refund = asyncio.create_task(
            refunds.refund(Refund(new_id("r"), purchase_id, Money(5000, "USD"), datetime.now(UTC)))
        )
        await waiting_on_locks(pool, 2)  # then the refund, its clock read already
        # The return window closes while both wait: the points are available when the hold gets the member.
        await blocker.execute("UPDATE lots SET available_at = clock_timestamp() WHERE member_id = $1", member_id)
        await transaction.commit()
    held = await hold
    refunded = await refund
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

    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        hold = asyncio.create_task(ledger.hold(member_id, 100, new_id("h"), HOUR, "reward"))
        await waiting_on_locks(pool, 1)
        cancel = asyncio.create_task(AccrualCancellations(pool, programs).cancel(partner_id, "tx-1", "cancelled"))
        await waiting_on_locks(pool, 2)
        await blocker.execute("UPDATE lots SET available_at = clock_timestamp() WHERE member_id = $1", member_id)
        await transaction.commit()
    held = await hold
    cancelled = await cancel
    assert held.status == "held"

    state = await books(pool, ledger, member_id)
    assert (cancelled.row.points_owed, state.available, state.held) == (100, 0, 100)
    assert_balanced(state)
    assert (await ledger.capture(str(held.hold.hold_id))).status == "captured"
