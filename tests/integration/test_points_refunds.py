"""Refunds take back what a purchase earned, in proportion, once per refund id; spent points are owed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
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


@pytest.fixture
def refunds(pool: asyncpg.Pool) -> RefundApplication:
    return RefundApplication(pool, ProgramApplication(pool))


async def purchase(
    app: PointsApplication, member_id: str, amount_minor: int, occurred_at: datetime | None = None
) -> str:
    purchase_id = new_id("p")
    when = occurred_at or datetime.now(UTC)
    await app.record_purchase(Purchase(purchase_id, member_id, Money(amount_minor, "USD"), (), when, ""))
    return purchase_id


def refund(purchase_id: str, amount_minor: int, refund_id: str | None = None) -> Refund:
    return Refund(refund_id or new_id("r"), purchase_id, Money(amount_minor, "USD"), datetime.now(UTC))


async def test_partial_refunds_add_up_to_exactly_what_the_purchase_earned(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)  # 100.00 USD: 200 points
    parts = [await refunds.refund(refund(purchase_id, amount)) for amount in (3333, 3333, 3334)]
    # Cumulative and rounded down: 66.66 -> 66, 133.32 -> 133, 200.
    assert [p.refund.points_reversed for p in parts] == [66, 67, 67]
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)
    with pytest.raises(FailedPrecondition, match="amount: 1 exceeds the 0"):
        await refunds.refund(refund(purchase_id, 1))


async def test_a_refund_id_applies_once(app: PointsApplication, refunds: RefundApplication) -> None:
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)
    first = await refunds.refund(refund(purchase_id, 5000, "refund-once"))
    again = await refunds.refund(refund(purchase_id, 5000, "refund-once"))
    assert (again.duplicate, again.refund.points_reversed, again.entry) == (True, 100, first.entry)
    with pytest.raises(AlreadyExists, match="refund_id"):
        await refunds.refund(refund(purchase_id, 4000, "refund-once"))


async def test_concurrent_refunds_never_take_back_more_than_was_earned(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)  # 200 points
    results = await asyncio.gather(
        *(refunds.refund(refund(purchase_id, 3000)) for _ in range(5)), return_exceptions=True
    )
    taken = [r.refund.points_reversed for r in results if not isinstance(r, BaseException)]
    assert len(taken) == 3 and sum(taken) == 180
    assert all(isinstance(r, FailedPrecondition) for r in results if isinstance(r, BaseException))
    assert (await books(pool, ledger, member_id)).entries_sum == 20


async def test_spent_points_are_owed_and_taken_from_the_next_earnings(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 150, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))  # 50 left

    result = await refunds.refund(refund(purchase_id, 10000))
    assert (result.refund.points_reversed, result.refund.points_owed) == (200, 150)
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)

    await purchase(app, member_id, 10000)  # earns 200, of which 150 repay the debt
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (50, 50)
    assert_balanced(state)
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == 0


async def test_points_that_expired_are_not_taken_again_only_the_spent_ones_are_owed(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 100)  # 200 points in an older lot
    purchase_id = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 250, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))  # the older lot, then 50 of the purchase's: 150 left in it
    await pool.execute(
        """UPDATE lots SET expires_at = now() + interval '1 second'
            WHERE entry_id = (SELECT entry_id FROM purchases WHERE purchase_id = $1)""",
        purchase_id,
    )
    await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC) + timedelta(seconds=5))

    first = await refunds.refund(refund(purchase_id, 5000))  # 100 points, all of them among the 150 expired
    second = await refunds.refund(refund(purchase_id, 5000))  # 100 more: the last 50 expired, then the 50 spent
    taken = [
        (r.refund.points_reversed, r.refund.points_expired, r.refund.points_owed, r.entry) for r in (first, second)
    ]
    assert taken == [(100, 100, 0, None), (100, 50, 50, None)]
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)
    assert await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == 50


async def test_held_points_are_not_taken_by_a_refund(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 100)  # 200 points in another lot
    purchase_id = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 250, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))  # draws the older lot first: 50 left, in the refunded purchase's lot
    await ledger.hold(member_id, 50, new_id("h"), timedelta(hours=1), "")
    result = await refunds.refund(refund(purchase_id, 5000))
    # Its own lot has 50 left, all reserved by the open hold: nothing can be taken now, all 100 are owed.
    assert (result.refund.points_reversed, result.refund.points_owed) == (100, 100)
    state = await books(pool, ledger, member_id)
    assert_balanced(state)


async def test_bad_refunds_name_the_field(app: PointsApplication, refunds: RefundApplication) -> None:
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 1000)
    with pytest.raises(InvalidArgument) as raised:
        await refunds.refund(Refund("", purchase_id, Money(0, "usd"), datetime.now(UTC)))
    assert [v.field for v in raised.value.violations] == ["refund_id", "amount.currency_code", "amount.amount_minor"]
    with pytest.raises(InvalidArgument, match=r"amount\.currency_code: must be the purchase currency USD"):
        await refunds.refund(Refund(new_id("r"), purchase_id, Money(100, "EUR"), datetime.now(UTC)))
    with pytest.raises(NotFound, match="purchase_id"):
        await refunds.refund(refund("no-such-purchase", 100))
    with pytest.raises(InvalidArgument, match=r"occurred_at: is more than 24 hours before the purchase's occurred_at "):
        await refunds.refund(Refund(new_id("r"), purchase_id, Money(100, "USD"), datetime.now(UTC) - timedelta(days=2)))
    assert (await refunds.refund(refund(purchase_id, 100))).refund.amount_minor == 100  # nothing was half-written


async def test_a_refund_dated_before_the_stamp_of_a_purchase_stamped_ahead_follows_the_policy_that_priced_it(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    """Dated between the purchase's recording and its stamp, the refund is allowed, and reads the spent-points policy
    at the stamp: the version in force at the refund ended before the purchase, which it never applied to."""
    now = datetime.now(UTC)
    programs = ProgramApplication(pool)
    await programs.apply(NEGATIVE_BALANCE_PROGRAM.replace("negative_balance", "debt"))
    await programs.apply(NEGATIVE_BALANCE_PROGRAM.replace("2020-01-01", (now + timedelta(hours=1)).isoformat()))
    member_id = await member_with_points(app, 0)
    spent = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 150, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))
    await refunds.refund(refund(spent, 10000))  # under debt, in force now: 150 owed
    ahead = await purchase(app, member_id, 10000, now + timedelta(hours=23))  # 200 points, 150 of them repay
    result = await refunds.refund(refund(ahead, 10000))  # dated now, before the stamp: 150 of its points spent
    assert (result.refund.points_reversed, result.refund.points_owed, result.refund.points_overdrawn) == (200, 0, 150)
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.overdrawn) == (-150, 150)
    assert_balanced(state)


async def refund_draws(pool: asyncpg.Pool, entry_id: object) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(points), 0) FROM lot_draws WHERE entry_id = $1", entry_id))


async def test_under_negative_balance_spent_points_are_taken_and_new_points_cover_them(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 150, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))  # 50 left

    result = await refunds.refund(refund(purchase_id, 10000))
    assert (result.refund.points_reversed, result.refund.points_owed, result.refund.points_overdrawn) == (200, 0, 150)
    assert result.entry is not None and result.entry.points == -200
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (-150, -150, 150)
    assert_balanced(state)
    with pytest.raises(FailedPrecondition, match="available"):
        await ledger.hold(member_id, 1, new_id("h"), timedelta(hours=1), "")

    await purchase(app, member_id, 5000)  # 100 points: all cover the overdraft, no new entry
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (-50, -50, 50)
    assert_balanced(state)
    await purchase(app, member_id, 10000)  # 200 points: 50 cover the rest
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (150, 150, 0)
    assert_balanced(state)
    # The refund entry has drawn from lots exactly the points it took.
    assert await refund_draws(pool, result.entry.entry_id) == 200
    kinds = await pool.fetch("SELECT kind FROM ledger_entries WHERE member_id = $1 ORDER BY seq", member_id)
    assert [r["kind"] for r in kinds] == ["purchase_earn", "redemption", "refund", "purchase_earn", "purchase_earn"]


async def test_new_points_cover_several_overdrawn_refunds_oldest_first(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    first, second = await purchase(app, member_id, 5000), await purchase(app, member_id, 5000)  # 100 + 100
    hold = await ledger.hold(member_id, 200, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))
    older = await refunds.refund(refund(first, 5000))
    newer = await refunds.refund(refund(second, 5000))
    await purchase(app, member_id, 7500)  # 150 points: 100 to the older refund, 50 to the newer
    assert older.entry is not None and newer.entry is not None
    assert (await refund_draws(pool, older.entry.entry_id), await refund_draws(pool, newer.entry.entry_id)) == (100, 50)
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.overdrawn) == (-50, 50)
    assert_balanced(state)


@pytest.mark.parametrize(("policy", "hold_ends_by"), [("debt", "release"), ("negative_balance", "running_out")])
async def test_points_a_hold_kept_past_their_expiry_settle_the_refund_instead_of_expiring_too(
    pool: asyncpg.Pool,
    app: PointsApplication,
    ledger: LedgerApplication,
    refunds: RefundApplication,
    policy: str,
    hold_ends_by: str,
) -> None:
    if policy == "negative_balance":
        await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 5000)  # 100 points, all reserved by the hold
    hold = await ledger.hold(member_id, 100, new_id("h"), timedelta(hours=1), "")
    await pool.execute(  # the lot expires while the hold keeps it
        """UPDATE lots SET expires_at = $2::timestamptz + interval '1 millisecond'
            WHERE entry_id = (SELECT entry_id FROM purchases WHERE purchase_id = $1)""",
        purchase_id,
        hold.hold.created_at,
    )
    result = await refunds.refund(refund(purchase_id, 5000))
    # The hold keeps the purchase's own points: the refund cannot take them, so they count as spent.
    assert (result.refund.points_reversed, result.refund.points_expired) == (100, 0)
    assert (result.refund.points_owed, result.refund.points_overdrawn) == ((100, 0) if policy == "debt" else (0, 100))

    if hold_ends_by == "release":
        await ledger.release(str(hold.hold.hold_id))
    else:
        await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", hold.hold.hold_id)
    await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC))

    # Freed, the points go to what the refund could not take rather than to expiry: the member loses them once.
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (0, 0, 0)
    assert_balanced(state)
    assert await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == 0
    kinds = await pool.fetch("SELECT kind FROM ledger_entries WHERE member_id = $1 ORDER BY seq", member_id)
    expected = ["purchase_earn", "debt_repayment"] if policy == "debt" else ["purchase_earn", "refund"]
    assert [r["kind"] for r in kinds] == expected


async def test_expiring_points_settle_only_what_their_own_refund_could_not_take(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    spent_purchase = await purchase(app, member_id, 5000)  # 100 points
    spending = await ledger.hold(member_id, 100, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(spending.hold.hold_id))  # spent for real
    held_purchase = await purchase(app, member_id, 5000)  # 100 points, kept by a hold past their expiry
    hold = await ledger.hold(member_id, 100, new_id("h"), timedelta(hours=1), "")
    await expire_while_held(pool, held_purchase, hold.hold.created_at)
    assert (await refunds.refund(refund(spent_purchase, 5000))).refund.points_owed == 100
    assert (await refunds.refund(refund(held_purchase, 2500))).refund.points_owed == 50
    await ledger.release(str(hold.hold.hold_id))
    await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC))
    # Of the held lot, 50 settle its own refund and 50 expire; the spent purchase's 100 stay owed.
    assert await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == 100
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)  # +100, -100 spent, +100, -50 repaid, -50 expired
    kinds = await pool.fetch("SELECT kind, points FROM ledger_entries WHERE member_id = $1 ORDER BY seq", member_id)
    assert [(r["kind"], r["points"]) for r in kinds][-2:] in (
        [("debt_repayment", -50), ("expiry", -50)],
        [("expiry", -50), ("debt_repayment", -50)],
    )
    assert_balanced(state)


async def test_a_late_purchase_reports_the_balance_after_what_expiry_settled_with_it(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    held_purchase = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 200, new_id("h"), timedelta(hours=1), "")
    await expire_while_held(pool, held_purchase, hold.hold.created_at)
    await refunds.refund(refund(held_purchase, 10000))  # owed 200: the hold keeps them
    await ledger.release(str(hold.hold.hold_id))
    await ProgramApplication(pool).apply(TERM_OF_ONE_MONTH)
    made = datetime.now(UTC) - timedelta(days=62)  # its points arrive expired, and the expiry settles the refund
    late = await app.record_purchase(Purchase(new_id("p"), member_id, Money(5000, "USD"), (), made, ""))
    assert late.balance == await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", member_id) == 0
    assert_balanced(await books(pool, ledger, member_id))


TERM_OF_ONE_MONTH = """
id: one-month
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 2}
expiry:
  months_after_earning: 1
"""


async def expire_while_held(pool: asyncpg.Pool, purchase_id: str, held_at: datetime) -> None:
    """The purchase's lot expires just after the hold was taken: spendable then, kept by the hold since."""
    await pool.execute(
        """UPDATE lots SET expires_at = $2::timestamptz + interval '1 millisecond'
            WHERE entry_id = (SELECT entry_id FROM purchases WHERE purchase_id = $1)""",
        purchase_id,
        held_at,
    )


async def test_a_refund_call_before_its_purchase_is_not_found_for_the_caller_to_retry_and_keeps_nothing(
    pool: asyncpg.Pool, app: PointsApplication, refunds: RefundApplication
) -> None:
    """RefundPurchase answers at once: unlike a PurchaseRefunded event, it does not wait for the purchase."""
    member_id = await member_with_points(app, 0)
    purchase_id = new_id("p")
    early = refund(purchase_id, 500)
    with pytest.raises(NotFound, match=r"^purchase_id: no purchase .* recorded \(yet\): retry once it is$"):
        await refunds.refund(early)
    assert await pool.fetchval("SELECT count(*) FROM refunds_awaiting_purchase") == 0
    await app.record_purchase(Purchase(purchase_id, member_id, Money(1000, "USD"), (), datetime.now(UTC), ""))
    assert (await refunds.refund(early)).refund.points_reversed == 10
