"""Migration points/040 on real PostgreSQL: the database refuses to credit a closed member, as a replica of a release
before closures (points/034) would, still running during a rollout or back after a rollback; this release refuses
such calls itself before writing anything (tests/integration/test_points_closure.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from services.common.db import VALUE_REFUSED, refused_value
from services.points.application import PointsApplication
from services.points.closure import ClosureApplication
from services.points.domain import Money, Purchase, Refund, utc_now
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import (
    NEGATIVE_BALANCE_PROGRAM,
    Books,
    assert_balanced,
    books,
    member_with_points,
    new_id,
)

REFUSAL = "members_closed_credited_nothing"


async def credit_as_an_older_release(connection: asyncpg.Connection, member_ids: list[str], points: int) -> None:
    """A credit of `points` to each member, its entry and lot in one statement, as releases before 034 wrote an
    adjustment or a purchase's points: with no look at the member's status."""
    await connection.execute(
        """WITH entry AS (
               INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description)
               SELECT gen_random_uuid(), member_id, 'adjustment', $2, 'old-release:' || gen_random_uuid(), 'gift'
                 FROM unnest($1::text[]) AS m (member_id)
               RETURNING entry_id, member_id, points, created_at)
           INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at)
           SELECT gen_random_uuid(), member_id, entry_id, points, points, created_at, created_at FROM entry""",
        member_ids,
        points,
    )


@pytest.fixture
async def closed_member(app: PointsApplication, pool: asyncpg.Pool) -> str:
    """A member who earned 200 points and was closed, forfeiting them."""
    member_id = await member_with_points(app, 100)
    await ClosureApplication(pool).close(member_id, "member request", "agent-7")
    return member_id


async def state_of(pool: asyncpg.Pool, ledger: LedgerApplication, member_id: str) -> tuple[Books, int, int]:
    """The member's books, and how many entries and lots it has."""
    counts = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM ledger_entries WHERE member_id = $1) AS entries,
                  (SELECT count(*) FROM lots WHERE member_id = $1) AS lots""",
        member_id,
    )
    return await books(pool, ledger, member_id), counts["entries"], counts["lots"]


async def test_a_credit_to_a_closed_member_is_refused_and_the_books_stay_as_the_closure_left_them(
    app: PointsApplication, ledger: LedgerApplication, pool: asyncpg.Pool, closed_member: str
) -> None:
    before = await state_of(pool, ledger, closed_member)
    assert (before[0].entries_sum, before[0].lots_remaining) == (0, 0)
    active = await member_with_points(app, 0)

    async with pool.acquire() as connection:
        # A batch crediting an active member beside the closed one is refused whole, as one statement.
        with pytest.raises(asyncpg.CheckViolationError, match=f"member {closed_member} is closed") as refused:
            await credit_as_an_older_release(connection, [active, closed_member], 2000)
        await credit_as_an_older_release(connection, [active], 2000)

    assert refused.value.constraint_name == REFUSAL
    # Every release answers it as a value the database will not store (FAILED_PRECONDITION, an event dead-lettered),
    # not as a defect.
    assert isinstance(refused.value, VALUE_REFUSED)
    assert refused_value(refused.value) == "a value is outside what may be stored"
    after = await state_of(pool, ledger, closed_member)
    assert after == before
    assert_balanced(after[0])
    assert (await ledger.balances(active)).available == 2000


async def test_a_lot_alone_for_a_closed_member_is_refused(
    ledger: LedgerApplication, pool: asyncpg.Pool, closed_member: str
) -> None:
    """Even without a credit entry: here on the closure's own forfeiture entry, which has no lot."""
    before = await state_of(pool, ledger, closed_member)
    forfeiture = await pool.fetchval(
        "SELECT entry_id FROM ledger_entries WHERE member_id = $1 AND kind = 'expiry'", closed_member
    )
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await pool.execute(
            """INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at)
               VALUES ($1, $2, $3, 50, 50, now(), now())""",
            uuid.uuid4(),
            closed_member,
            forfeiture,
        )
    assert refused.value.constraint_name == REFUSAL
    assert await state_of(pool, ledger, closed_member) == before


async def test_a_refund_after_the_closure_still_takes_what_was_spent(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    """What this release writes for a closed member takes points, and passes: here a refund entry of points spent
    before the closure, overdrawing the account (refund policy negative_balance)."""
    programs = ProgramApplication(pool)
    await programs.apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    bought = Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now(), "")
    await app.record_purchase(bought)  # 200 points
    spent = await ledger.hold(member_id, 150, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(spent.hold.hold_id))
    await ClosureApplication(pool).close(member_id, "member request", "agent-7")  # forfeits the 50 left

    refunded = await RefundApplication(pool, programs).refund(
        Refund(new_id("r"), bought.purchase_id, Money(10000, "USD"), utc_now())
    )

    assert refunded.entry is not None and refunded.entry.points == -150
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.overdrawn) == (-150, 150)
    assert_balanced(state)
