"""What settles the points a refund could not take: freed held points, bonuses under negative_balance, expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.points.application import PointsApplication
from services.points.bonuses import ActivityRecord
from services.points.domain import Enrollment
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
from tests.integration.support import set_read_only
from tests.integration.test_points_refunds import expire_while_held, purchase, refund, refunds

__all__ = ["refunds"]

HOUR = timedelta(hours=1)


async def owed(pool: asyncpg.Pool, member_id: str) -> int:
    return int(await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id))


async def test_an_overdrawn_refund_that_drew_part_of_its_own_lot_is_settled_by_the_rest_at_expiry(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 60, new_id("h"), HOUR, "")
    result = await refunds.refund(refund(purchase_id, 5000))  # takes the 40 the hold left, overdraws 60
    assert (result.refund.points_overdrawn, result.refund.points_owed) == (60, 0)
    await expire_while_held(pool, purchase_id, hold.hold.created_at)
    await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", hold.hold.hold_id)
    # The hold ran out and the lot's 60 left expire: they cover the refund, which drew on that lot before.
    await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.overdrawn) == (0, 0)
    assert_balanced(state)
    draws = await pool.fetch(
        """SELECT d.points FROM lot_draws d JOIN ledger_entries e USING (entry_id)
            WHERE e.member_id = $1 AND e.kind = 'refund'""",
        member_id,
    )
    assert [r["points"] for r in draws] == [100]


async def test_held_points_past_their_expiry_settle_part_of_an_overdraft_and_the_rest_expire(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")
    await expire_while_held(pool, purchase_id, hold.hold.created_at)
    assert (await refunds.refund(refund(purchase_id, 2500))).refund.points_overdrawn == 50
    await ledger.release(str(hold.hold.hold_id))
    report = await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC))
    assert report.points_expired == 50  # the other 50 covered the overdraft
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (0, 0, 0)
    assert_balanced(state)


@pytest.mark.parametrize("ending", ["released", "ran out, then the expiry job's pass"])
@pytest.mark.parametrize("policy", ["debt", "negative_balance"])
async def test_a_hold_that_ends_frees_a_refunded_purchases_points_to_settle_its_refund_not_to_be_spent(
    pool: asyncpg.Pool,
    app: PointsApplication,
    ledger: LedgerApplication,
    refunds: RefundApplication,
    policy: str,
    ending: str,
) -> None:
    if policy == "negative_balance":
        await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 5000)  # 100 points, never expire
    hold = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")
    result = await refunds.refund(refund(purchase_id, 5000))
    assert (result.refund.points_owed, result.refund.points_overdrawn) == ((100, 0) if policy == "debt" else (0, 100))
    if ending == "released":
        await ledger.release(str(hold.hold.hold_id))
    else:
        await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", hold.hold.hold_id)
        # No operation of the member's follows: the job's pass, not their next hold, settles the refund.
        await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC))
    state = await books(pool, ledger, member_id)
    assert (state.available, state.overdrawn, await owed(pool, member_id)) == (0, 0, 0)
    assert_balanced(state)


async def test_a_hold_that_ran_out_settles_the_refund_before_the_next_hold_can_spend_its_points(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 50)  # 100 points of another purchase
    purchase_id = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 200, new_id("h"), HOUR, "")
    assert (await refunds.refund(refund(purchase_id, 5000))).refund.points_owed == 100
    await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", hold.hold.hold_id)
    second = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")  # the other purchase's 100: yes
    assert second.status == "held" and await owed(pool, member_id) == 0
    assert (await ledger.balances(member_id)).available == 0
    assert_balanced(await books(pool, ledger, member_id))


async def refunded_while_held_then_ran_out(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication, policy: str
) -> str:
    """A member whose purchase of 100 points was refunded while a hold kept 80 of them, the hold since run out."""
    if policy == "negative_balance":
        await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    member_id = await member_with_points(app, 0)
    refunded = await purchase(app, member_id, 5000)  # 100 points
    hold = await ledger.hold(member_id, 80, new_id("h"), HOUR, "")
    await refunds.refund(refund(refunded, 5000))  # takes the 20 the hold left; 80 owed or overdrawn
    await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", hold.hold.hold_id)
    return member_id


@pytest.mark.parametrize("policy", ["debt", "negative_balance"])
async def test_the_balance_read_after_a_hold_ran_out_shows_its_freed_points_settling_the_refund_not_spendable(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication, policy: str
) -> None:
    member_id = await refunded_while_held_then_ran_out(pool, app, ledger, refunds, policy)
    # Before any pass of the expiry job: what the balance says is available can be held.
    assert (await ledger.balances(member_id)).available == 0
    assert (await owed(pool, member_id), (await books(pool, ledger, member_id)).overdrawn) == (0, 0)


@pytest.mark.parametrize("policy", ["debt", "negative_balance"])
async def test_points_earned_after_a_hold_ran_out_are_kept_the_refunded_purchases_freed_points_settle_its_refund(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication, policy: str
) -> None:
    member_id = await refunded_while_held_then_ran_out(pool, app, ledger, refunds, policy)
    await purchase(app, member_id, 3000)  # 60 points, before any pass of the expiry job
    # The refunded purchase's 80, freed, settle its refund: the new purchase's 60 are the member's to keep.
    state = await books(pool, ledger, member_id)
    assert (state.available, state.overdrawn, await owed(pool, member_id)) == (60, 0, 0)
    assert_balanced(state)


async def test_a_capture_after_another_hold_ran_out_leaves_the_points_it_freed_to_their_refund(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication
) -> None:
    member_id = await member_with_points(app, 0)
    refunded = await purchase(app, member_id, 5000)  # 100 points, the older lot
    await purchase(app, member_id, 5000)  # 100 more
    first = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")  # keeps the older lot
    second = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")  # keeps the newer one
    assert (await refunds.refund(refund(refunded, 5000))).refund.points_owed == 100  # the first hold kept them
    await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", first.hold.hold_id)
    await ledger.capture(str(second.hold.hold_id))
    # 200 earned, 100 refunded, 100 redeemed: nothing left to spend, nothing owed.
    assert ((await ledger.balances(member_id)).available, await owed(pool, member_id)) == (0, 0)
    assert_balanced(await books(pool, ledger, member_id))


NEGATIVE_WITH_TERM_AND_BONUS = """
id: neg-term
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 2}}
expiry: {months_after_earning: 12}
refunds: {spent_points: negative_balance}
bonuses:
  activities:
    - {id: newsletter-optin, points: 100}
"""


async def overdrawn_by_200(pool: asyncpg.Pool, ledger: LedgerApplication) -> tuple[PointsApplication, str]:
    """Under NEGATIVE_WITH_TERM_AND_BONUS, a member who spent a purchase's 200 points and had it refunded."""
    programs = ProgramApplication(pool)
    await programs.apply(NEGATIVE_WITH_TERM_AND_BONUS)
    app = PointsApplication(pool, 2, programs)
    member_id = await member_with_points(app, 0)
    purchase_id = await purchase(app, member_id, 10000)  # 200 points
    hold = await ledger.hold(member_id, 200, new_id("h"), HOUR, "")
    await ledger.capture(str(hold.hold.hold_id))
    await RefundApplication(pool, programs).refund(refund(purchase_id, 10000))  # overdraws 200
    return app, member_id


async def test_bonus_and_adjustment_points_cover_an_overdraft_instead_of_expiring_unspendable(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    app, member_id = await overdrawn_by_200(pool, ledger)
    await app.record_activity(ActivityRecord(member_id, "newsletter-optin", new_id("k"), datetime.now(UTC)))
    await ledger.adjust(member_id, 30, "goodwill", "agent-1", new_id("a"))
    assert (await ledger.balances(member_id)).available == -70
    await ExpiryJob(pool, ProgramApplication(pool)).run_once(datetime.now(UTC) + timedelta(days=400))
    state = await books(pool, ledger, member_id)
    assert (state.available, state.overdrawn) == (-70, 70)  # nothing of the 130 was left to expire
    assert_balanced(state)


async def test_points_of_an_activity_reported_after_their_term_cover_no_overdraft(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    app, member_id = await overdrawn_by_200(pool, ledger)
    long_ago = datetime.now(UTC) - timedelta(days=400)  # past the 12 months' term: expired as credited
    await app.record_activity(ActivityRecord(member_id, "newsletter-optin", new_id("k"), long_ago))
    # Never spendable, so they settle nothing, as a purchase's points that arrive expired do not.
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (-200, -200, 200)
    assert_balanced(state)


NEGATIVE_WITH_TERM_AND_REFERRAL = """
id: neg-referral
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 2}}
expiry: {months_after_earning: 12}
refunds: {spent_points: negative_balance}
bonuses:
  referral: {referrer_points: 100, referee_points: 50}
"""


async def test_a_referral_bonus_not_pending_covers_the_referrers_overdraft_instead_of_expiring_unspendable(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(NEGATIVE_WITH_TERM_AND_REFERRAL)  # no pending days: referral bonuses are available at once
    app = PointsApplication(pool, 2, programs)
    referrer = await member_with_points(app, 0)
    purchase_id = await purchase(app, referrer, 10000)  # 200 points
    hold = await ledger.hold(referrer, 200, new_id("h"), HOUR, "")
    await ledger.capture(str(hold.hold.hold_id))
    await RefundApplication(pool, programs).refund(refund(purchase_id, 10000))  # overdraws 200
    referee = new_id("m")
    await app.enroll(Enrollment(referee, "", "", "", referrer_member_id=referrer))
    await purchase(app, referee, 1000)  # pays the referrer 100, available at once
    await ExpiryJob(pool, programs).run_once(datetime.now(UTC) + timedelta(days=400))
    state = await books(pool, ledger, referrer)
    assert (state.available, state.overdrawn) == (-100, 100)  # nothing of the 100 was left to expire
    assert_balanced(state)


@pytest.mark.parametrize("ending", ["released", "ran out"])
async def test_points_a_hold_kept_from_an_overdrawing_refund_cover_it_when_freed_instead_of_expiring_unspendable(
    pool: asyncpg.Pool, ledger: LedgerApplication, ending: str
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(NEGATIVE_WITH_TERM_AND_BONUS)
    app = PointsApplication(pool, 2, programs)
    member_id = await member_with_points(app, 0)
    await purchase(app, member_id, 5000)  # 100 points, expiring first
    refunded = await purchase(app, member_id, 5000)  # 100 points
    kept = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")  # keeps the first purchase's
    spent = await ledger.hold(member_id, 100, new_id("h"), HOUR, "")  # keeps the refunded purchase's
    await ledger.capture(str(spent.hold.hold_id))
    result = await RefundApplication(pool, programs).refund(refund(refunded, 5000))
    assert result.refund.points_overdrawn == 100  # the hold kept the only points left
    if ending == "released":
        await ledger.release(str(kept.hold.hold_id))
    else:
        await pool.execute("UPDATE holds SET expires_at = now() WHERE hold_id = $1", kept.hold.hold_id)
        await ExpiryJob(pool, programs).run_once(datetime.now(UTC))
    # 200 earned, 100 redeemed, 100 refunded: nothing left, nothing overdrawn, and nothing to expire.
    await ExpiryJob(pool, programs).run_once(datetime.now(UTC) + timedelta(days=400))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.overdrawn) == (0, 0, 0)
    assert_balanced(state)


async def test_the_balance_of_an_overdrawn_member_reads_while_the_database_is_read_only(
    pool: asyncpg.Pool, ledger: LedgerApplication, postgres_admin_url: str
) -> None:
    """A read-only database (a failover under way) still serves reads: the balance of a member who is overdrawn
    (nothing a hold freed, nothing to settle) is read without a write transaction."""
    _, member_id = await overdrawn_by_200(pool, ledger)
    assert (await ledger.balances(member_id)).available == -200
    await set_read_only(postgres_admin_url, pool, True)
    try:
        balances = await ledger.balances(member_id)
        schedule_member, _ = await ledger.points_schedule(member_id)
    finally:
        await set_read_only(postgres_admin_url, pool, False)
    assert balances.available == -200
    assert schedule_member.member_id == member_id


async def test_the_balance_of_an_overdrawn_member_does_not_wait_on_a_write_holding_the_member(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    """A balance read is a read-only snapshot that never waits on a writer holding the member (a purchase batch,
    a hold), whether or not the member is overdrawn."""
    _, member_id = await overdrawn_by_200(pool, ledger)
    async with pool.acquire() as writer, writer.transaction():
        await writer.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        balances = await asyncio.wait_for(ledger.balances(member_id), timeout=2)
    assert balances.available == -200
