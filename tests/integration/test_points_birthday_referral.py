"""Birthday bonus (the birthday job) and referral bonus (at the referred member's first qualifying purchase)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import InvalidArgument, NotFound
from services.points.application import PointsApplication
from services.points.birthdays import BirthdayJob
from services.points.closure import ClosureApplication
from services.points.domain import Enrollment, Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.purchases import Outcome, PurchaseRecorder, PurchaseRequest, PurchaseResult
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, events_of, new_id

PROGRAM = """
id: cafe-club
effective_from: 2020-01-01
timezone: America/New_York
currency: USD
earning:
  base_rates: {USD: 10}
pending:
  days: 30
bonuses:
  birthday: {points: 1000, when: BIRTHDAY_ON}
  referral: {referrer_points: 1500, referee_points: 500, minimum_spend: 25}
"""


async def program_app(pool: asyncpg.Pool, birthday_on: str = "month") -> tuple[PointsApplication, ProgramApplication]:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM.replace("BIRTHDAY_ON", birthday_on))
    return PointsApplication(pool, 2, programs), programs


async def enroll(app: PointsApplication, birth_date: str = "", referrer: str = "") -> str:
    member = await app.enroll(Enrollment(new_id("m"), "", "", "", birth_date=birth_date, referrer_member_id=referrer))
    return member.member_id


async def bonus_keys(pool: asyncpg.Pool, member_id: str) -> list[tuple[str, int]]:
    rows = await pool.fetch(
        "SELECT idempotency_key, points FROM ledger_entries WHERE member_id = $1 AND kind = 'bonus' ORDER BY seq",
        member_id,
    )
    return [(r["idempotency_key"], r["points"]) for r in rows]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_the_birthday_bonus_is_paid_once_in_the_birth_month(pool: asyncpg.Pool) -> None:
    app, programs = await program_app(pool, "month")
    march, april, no_birthday = await enroll(app, "1990-03-17"), await enroll(app, "1985-04-02"), await enroll(app)
    job = BirthdayJob(pool, programs, batch=1)  # a page per member: the paging is exercised too

    report = await job.run_once(at("2026-03-05T15:00:00"))
    again = await job.run_once(at("2026-03-28T15:00:00"))

    assert (report.members_credited, report.points_credited, again.members_credited) == (1, 1000, 0)
    assert await bonus_keys(pool, march) == [(f"birthday:{march}:2026", 1000)]
    assert await bonus_keys(pool, april) == await bonus_keys(pool, no_birthday) == []
    await job.run_once(at("2027-03-01T15:00:00"))
    assert [key for key, _ in await bonus_keys(pool, march)] == [f"birthday:{march}:2026", f"birthday:{march}:2027"]
    assert (await LedgerApplication(pool).balances(march)).available == 2000


async def test_a_day_birthday_bonus_is_paid_on_the_local_birthday_or_within_the_grace_days(
    pool: asyncpg.Pool,
) -> None:
    app, programs = await program_app(pool, "day")
    member = await enroll(app, "1990-12-30")
    job = BirthdayJob(pool, programs)

    # 03:00 UTC on the 30th is still the 29th in New York.
    assert (await job.run_once(at("2026-12-30T03:00:00"))).members_credited == 0
    # Missed the day itself; two days later, across the new year, it is still paid, for 2026.
    assert (await job.run_once(at("2027-01-01T15:00:00"))).members_credited == 1
    assert await bonus_keys(pool, member) == [(f"birthday:{member}:2026", 1000)]


async def test_concurrent_birthday_runs_credit_once(pool: asyncpg.Pool) -> None:
    app, programs = await program_app(pool)
    members = [await enroll(app, "2001-07-09") for _ in range(5)]
    reports = await asyncio.gather(*(BirthdayJob(pool, programs).run_once(at("2026-07-10T12:00:00")) for _ in range(4)))
    assert sum(r.members_credited for r in reports) == 5
    for member in members:
        assert await bonus_keys(pool, member) == [(f"birthday:{member}:2026", 1000)]


async def test_one_run_credits_every_member_due_a_page_at_a_time_skipping_a_member_busy_elsewhere(
    pool: asyncpg.Pool,
) -> None:
    app, programs = await program_app(pool)
    members = [await enroll(app, "1990-07-09") for _ in range(7)]
    busy = members[3]
    job = BirthdayJob(pool, programs, batch=2)
    async with unit_of_work(pool) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", busy)
        first = await job.run_once(at("2026-07-10T12:00:00"))
    second = await job.run_once(at("2026-07-10T13:00:00"))

    assert (first.members_credited, first.points_credited, second.members_credited) == (6, 6000, 1)
    for member_id in members:
        assert await bonus_keys(pool, member_id) == [(f"birthday:{member_id}:2026", 1000)]
        earned = await events_of(pool, member_id, events.PointsEarned)
        assert [(e.reason, e.points, e.balance_after) for e in earned] == [("birthday", 1000, 1000)]  # type: ignore[attr-defined]
        assert_balanced(await books(pool, LedgerApplication(pool), member_id))


def purchase(member_id: str, whole_usd: int, when: datetime | None = None) -> Purchase:
    return Purchase(new_id("p"), member_id, Money(whole_usd * 100, "USD"), (), when or datetime.now(UTC), "")


async def test_referral_pays_both_at_the_first_qualifying_purchase_only(pool: asyncpg.Pool) -> None:
    app, _ = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    assert (await app.member(referee)).referrer_member_id == referrer

    await app.record_purchase(purchase(referee, 24))  # below the minimum spend
    assert await bonus_keys(pool, referee) == await bonus_keys(pool, referrer) == []
    result = await app.record_purchase(purchase(referee, 25))
    await app.record_purchase(purchase(referee, 100))

    assert await bonus_keys(pool, referee) == [(f"referral:{referee}:referee", 500)]
    assert await bonus_keys(pool, referrer) == [(f"referral:{referee}:referrer", 1500)]
    assert result.balance == 240 + 250 + 500
    # Pending like the purchase: not spendable within the return window.
    balances = await LedgerApplication(pool).balances(referrer)
    assert (balances.available, balances.pending) == (0, 1500)


async def test_concurrent_first_purchases_pay_the_referral_once(pool: asyncpg.Pool) -> None:
    app, _ = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    await asyncio.gather(*(app.record_purchase(purchase(referee, 30)) for _ in range(10)))
    assert await bonus_keys(pool, referee) == [(f"referral:{referee}:referee", 500)]
    assert await bonus_keys(pool, referrer) == [(f"referral:{referee}:referrer", 1500)]


async def test_a_referral_that_credits_nobody_is_spent_and_the_referees_later_purchases_earn(
    pool: asyncpg.Pool,
) -> None:
    """A program paying the referrer alone, and a referrer closed by the time the referee buys: the first
    qualifying purchase spends the referral with no bonus entry, and later purchases must not try again."""
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM.replace("BIRTHDAY_ON", "month").replace("referee_points: 500, ", ""))
    app = PointsApplication(pool, 2, programs)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    await ClosureApplication(pool).close(referrer, "member request", "agent-7")
    first = purchase(referee, 30)
    await app.record_purchase(first)
    later = await app.record_purchase(purchase(referee, 30))
    assert later.points_earned == 300
    assert await bonus_keys(pool, referee) == await bonus_keys(pool, referrer) == []
    paid = await pool.fetch("SELECT purchase_id FROM referral_payments WHERE referee_id = $1", referee)
    assert [r["purchase_id"] for r in paid] == [first.purchase_id]


async def referral_points(pool: asyncpg.Pool, member_id: str) -> int:
    """What the member's referral bonuses add up to, voided ones included."""
    return int(
        await pool.fetchval(
            """SELECT coalesce(sum(points), 0) FROM ledger_entries
                WHERE member_id = $1 AND idempotency_key LIKE '%referral:%'""",
            member_id,
        )
    )


async def return_of(pool: asyncpg.Pool, programs: ProgramApplication, bought: Purchase, whole_usd: int) -> None:
    refund = Refund(new_id("r"), bought.purchase_id, Money(whole_usd * 100, "USD"), datetime.now(UTC))
    await RefundApplication(pool, programs).refund(refund)


async def test_returning_the_purchase_within_its_pending_window_voids_the_referral(pool: asyncpg.Pool) -> None:
    app, programs = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    first = purchase(referee, 100)
    await app.record_purchase(first)
    await return_of(pool, programs, first, 60)  # 40 USD left: still at least the 25 minimum
    assert (await referral_points(pool, referee), await referral_points(pool, referrer)) == (500, 1500)

    await return_of(pool, programs, first, 30)  # 10 USD left: it no longer qualifies
    assert (await referral_points(pool, referee), await referral_points(pool, referrer)) == (0, 0)
    assert (await LedgerApplication(pool).balances(referrer)).pending == 0
    for member_id in (referee, referrer):
        assert_balanced(await books(pool, LedgerApplication(pool), member_id))
    voided = await events_of(pool, referrer, events.PointsReversed)
    assert [(e.purchase_id, e.points_taken) for e in voided] == [(first.purchase_id, 1500)]  # type: ignore[attr-defined]
    # The referral is spent: a later purchase pays it no more.
    await app.record_purchase(purchase(referee, 100))
    assert (await referral_points(pool, referee), await referral_points(pool, referrer)) == (0, 0)


async def test_a_voided_referral_takes_back_the_whole_bonus_from_an_overdrawn_referrer(pool: asyncpg.Pool) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM.replace("BIRTHDAY_ON", "month") + "refunds:\n  spent_points: negative_balance\n")
    app, ledger = PointsApplication(pool, 2, programs), LedgerApplication(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    spent = purchase(referrer, 100, datetime.now(UTC) - timedelta(days=40))
    await app.record_purchase(spent)
    hold = await ledger.hold(referrer, 1000, new_id("h"), timedelta(hours=1), "")
    await ledger.capture(str(hold.hold.hold_id))
    await return_of(pool, programs, spent, 100)  # overdrawn by 1000
    first = purchase(referee, 100)
    await app.record_purchase(first)  # pays the referral, pending with the purchase
    await return_of(pool, programs, first, 100)  # within its window: void, both bonuses taken back whole
    assert (await referral_points(pool, referee), await referral_points(pool, referrer)) == (0, 0)
    assert (await books(pool, ledger, referrer)).overdrawn == 1000
    assert_balanced(await books(pool, ledger, referrer))


async def test_a_return_after_the_pending_window_leaves_the_referral_paid(pool: asyncpg.Pool) -> None:
    app, programs = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    first = purchase(referee, 100, datetime.now(UTC) - timedelta(days=31))  # its 30 pending days are over
    await app.record_purchase(first)
    await return_of(pool, programs, first, 100)
    assert (await referral_points(pool, referee), await referral_points(pool, referrer)) == (500, 1500)
    assert (await LedgerApplication(pool).balances(referrer)).available == 1500


async def test_a_purchase_priced_before_the_referral_program_pays_nothing(pool: asyncpg.Pool) -> None:
    app, _ = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    await app.record_purchase(purchase(referee, 50, datetime(2019, 6, 1, tzinfo=UTC)))
    assert await bonus_keys(pool, referee) == []
    await app.record_purchase(purchase(referee, 50, datetime.now(UTC) - timedelta(hours=1)))
    assert len(await bonus_keys(pool, referee)) == 1


async def test_enrolling_with_an_unknown_or_own_referrer_is_refused_and_writes_nothing(pool: asyncpg.Pool) -> None:
    app, _ = await program_app(pool)
    with pytest.raises(NotFound, match="referrer_member_id"):
        await enroll(app, referrer="nobody")
    with pytest.raises(InvalidArgument) as refused:
        await app.enroll(Enrollment("m-self", "", "", "", referrer_member_id="m-self"))
    assert [v.field for v in refused.value.violations] == ["referrer_member_id"]
    assert await pool.fetchval("SELECT count(*) FROM members") == 0


async def test_a_late_first_purchase_pays_a_referral_that_expires_as_it_arrives(pool: asyncpg.Pool) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM.replace("BIRTHDAY_ON", "month") + "expiry:\n  months_after_earning: 12\n")
    app = PointsApplication(pool, 2, programs)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    result = await app.record_purchase(purchase(referee, 100, datetime.now(UTC) - timedelta(days=500)))
    assert await bonus_keys(pool, referee) == [(f"referral:{referee}:referee", 500)]
    state = await books(pool, LedgerApplication(pool), referee)
    assert (result.balance, state.entries_sum) == (0, 0)
    assert_balanced(state)
    expired = await events_of(pool, referee, events.PointsExpired)
    assert sorted(e.points for e in expired) == [500, 1000]  # type: ignore[attr-defined]


async def in_one_batch(pool: asyncpg.Pool, programs: ProgramApplication, purchases: list[Purchase]) -> list[Outcome]:
    """The purchases recorded together in one transaction, as group commit batches concurrent ones."""
    async with unit_of_work(pool) as connection:
        return await PurchaseRecorder(programs, 2, RefundApplication(pool, programs)).record_in(
            connection, [PurchaseRequest(p) for p in purchases]
        )


@asynccontextmanager
async def held(pool: asyncpg.Pool, member_id: str) -> AsyncIterator[None]:
    """The member locked by another transaction (a refund, an accrual) until the block ends."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", member_id)
        yield


async def test_batches_paying_the_referrals_of_a_referral_chain_do_not_deadlock(pool: asyncpg.Pool) -> None:
    """R referred X, X referred Y. One batch buys for R and Y, another for X: each first purchase pays the
    buyer's referrer, so the first batch needs X (Y's referrer) and the second R (X's referrer)."""
    app, programs = await program_app(pool)
    r = (await app.enroll(Enrollment("m1-r", "", "", ""))).member_id
    x = (await app.enroll(Enrollment("m2-x", "", "", "", referrer_member_id=r))).member_id
    y = (await app.enroll(Enrollment("m3-y", "", "", "", referrer_member_id=x))).member_id
    async with held(pool, y):  # the first batch takes R, then waits here for Y
        r_and_y = asyncio.create_task(in_one_batch(pool, programs, [purchase(r, 30), purchase(y, 30)]))
        await asyncio.sleep(0.5)
        x_alone = asyncio.create_task(in_one_batch(pool, programs, [purchase(x, 30)]))
        await asyncio.sleep(0.5)
    outcomes = await asyncio.gather(r_and_y, x_alone, return_exceptions=True)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert await referral_points(pool, r) == 1500
    assert await referral_points(pool, x) == 500 + 1500
    assert await referral_points(pool, y) == 500


async def test_a_return_voiding_a_referral_does_not_deadlock_with_a_batch_of_referrer_and_referee(
    pool: asyncpg.Pool,
) -> None:
    """The refund voids the referrer's bonus, so it needs the referrer as well as the buyer; a batch buying for
    both holds one of them while it waits for the other."""
    app, programs = await program_app(pool)
    r = (await app.enroll(Enrollment("m1-r", "", "", ""))).member_id
    x = (await app.enroll(Enrollment("m2-x", "", "", "", referrer_member_id=r))).member_id
    bought = purchase(x, 100)
    await app.record_purchase(bought)
    async with held(pool, x):
        returned = asyncio.create_task(return_of(pool, programs, bought, 100))
        await asyncio.sleep(0.5)
        both = asyncio.create_task(in_one_batch(pool, programs, [purchase(r, 30), purchase(x, 30)]))
        await asyncio.sleep(0.5)
    outcomes = await asyncio.gather(returned, both, return_exceptions=True)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert (await referral_points(pool, x), await referral_points(pool, r)) == (0, 0)


async def test_a_repeated_purchase_that_paid_the_referral_answers_the_balance_with_its_bonus(
    pool: asyncpg.Pool,
) -> None:
    """The first answer counts the referee's bonus the purchase paid; the repeat answers the same, later
    purchases of the member aside."""
    app, _ = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    first_purchase = purchase(referee, 25)
    first = await app.record_purchase(first_purchase)
    await app.record_purchase(purchase(referee, 100))

    again = await app.record_purchase(first_purchase)

    assert (first.balance, again.duplicate, again.balance) == (250 + 500, True, 250 + 500)


async def test_purchases_repeated_from_one_batch_answer_each_its_own_balance(pool: asyncpg.Pool) -> None:
    """A batch holds the referee's first purchase and one of the referrer's: each repeat answers what its
    purchase was first answered with (the referrer's before the referral bonus the batch also credited it)."""
    app, programs = await program_app(pool)
    referrer = await enroll(app)
    referee = await enroll(app, referrer=referrer)
    batch = [purchase(referee, 30), purchase(referrer, 40)]
    first = await in_one_batch(pool, programs, batch)
    await in_one_batch(pool, programs, [purchase(referee, 10), purchase(referrer, 10)])

    again = await in_one_batch(pool, programs, batch)

    answers = [(o.duplicate, o.balance) for o in (*first, *again) if isinstance(o, PurchaseResult)]
    assert answers == [(False, 300 + 500), (False, 400), (True, 300 + 500), (True, 400)]
