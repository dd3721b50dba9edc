"""The expiry job: expired points are taken off once, reminders go out once, open holds stay covered."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, events_of, member_with_points, new_id

DAY = timedelta(days=1)
TERM = (
    "id: term\nname: Term\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {months_after_earning: 24}\n"
)


@pytest.fixture
def job(pool: asyncpg.Pool) -> ExpiryJob:
    return ExpiryJob(pool, ProgramApplication(pool), remind_before=30 * DAY)


async def expire_in(pool: asyncpg.Pool, member_id: str, delta: timedelta) -> None:
    async with pool.acquire() as connection:  # as a program's expiry term would set it when earning
        await connection.execute(
            "UPDATE lots SET expires_at = now() + $2::interval WHERE member_id = $1", member_id, delta
        )


async def test_points_are_reminded_once_then_expire_once(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, job: ExpiryJob
) -> None:
    member_id = await member_with_points(app, 100)  # 200 points
    await expire_in(pool, member_id, 10 * DAY)
    now = utc_now()
    await job.run_once(now)
    await job.run_once(now + DAY)
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert [r.points for r in reminders] == [200]  # type: ignore[attr-defined]
    assert (await books(pool, ledger, member_id)).available == 200

    report = await job.run_once(now + 11 * DAY)
    assert report.points_expired >= 200
    await job.run_once(now + 12 * DAY)
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert [e.points for e in expired] == [200]  # type: ignore[attr-defined]
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)


async def test_an_open_hold_stays_covered_and_can_still_be_captured(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, job: ExpiryJob
) -> None:
    member_id = await member_with_points(app, 100)  # 200 points
    hold = await ledger.hold(member_id, 150, new_id("h"), DAY, "")
    await expire_in(pool, member_id, timedelta(seconds=1))
    later = utc_now() + timedelta(seconds=5)
    await job.run_once(later)
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert [e.points for e in expired] == [50]  # type: ignore[attr-defined]
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.held) == (150, 150)

    await ledger.capture(str(hold.hold.hold_id))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.held) == (0, 0, 0)
    assert_balanced(state)


async def test_a_hold_spanning_its_points_expiry_is_paid_with_them_not_with_later_points(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, job: ExpiryJob
) -> None:
    member_id = await member_with_points(app, 100)  # 200 points
    hold = await ledger.hold(member_id, 30, new_id("h"), DAY, "")
    # The lot expires just after the hold reserved 30 of it; points credited since never expire.
    await pool.execute(
        "UPDATE lots SET expires_at = $2::timestamptz + interval '1 millisecond' WHERE member_id = $1",
        member_id,
        hold.hold.created_at,
    )
    await ledger.adjust(member_id, 50, "goodwill", "test", new_id("goodwill"))
    await job.run_once(utc_now() + timedelta(seconds=1))
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert [e.points for e in expired] == [170]  # type: ignore[attr-defined]

    await ledger.capture(str(hold.hold.hold_id))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.held) == (50, 50, 0)
    assert_balanced(state)


async def test_points_kept_for_a_released_hold_expire_on_the_next_run(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication, job: ExpiryJob
) -> None:
    member_id = await member_with_points(app, 100)
    hold = await ledger.hold(member_id, 150, new_id("h"), DAY, "")
    await expire_in(pool, member_id, timedelta(seconds=1))
    await job.run_once(utc_now() + timedelta(seconds=5))
    await ledger.release(str(hold.hold.hold_id))
    await job.run_once(utc_now() + timedelta(seconds=5))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available, state.held) == (0, 0, 0)
    assert_balanced(state)


async def test_the_inactivity_policy_expires_everything_of_a_dormant_member(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(
        "id: dormant\nname: Dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
        "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24}\n"
    )
    member_id = await member_with_points(PointsApplication(pool, 2, programs), 100)  # 200 points, no fixed term
    job = ExpiryJob(pool, programs)
    await job.run_once(utc_now() + 700 * DAY)  # 23 months on: still active
    assert (await books(pool, ledger, member_id)).entries_sum == 200
    await job.run_once(utc_now() + 760 * DAY)  # 25 months without earning
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)


async def test_one_pass_expires_every_member_due_a_batch_at_a_time_skipping_a_member_busy_elsewhere(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    members = [await member_with_points(app, 100) for _ in range(7)]  # 200 points each
    for member_id in members:
        await expire_in(pool, member_id, timedelta(seconds=1))
    busy, others = members[3], members[:3] + members[4:]
    job = ExpiryJob(pool, ProgramApplication(pool), batch=2)
    later = utc_now() + timedelta(seconds=5)
    async with unit_of_work(pool) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", busy)
        await job.run_once(later)
    for member_id in others:
        assert [e.points for e in await events_of(pool, member_id, events.PointsExpired)] == [200]  # type: ignore[attr-defined]
        state = await books(pool, ledger, member_id)
        assert (state.entries_sum, state.available) == (0, 0)
        assert_balanced(state)
    assert (await books(pool, ledger, busy)).entries_sum == 200  # left for the next pass, not waited for

    await job.run_once(later)
    await job.run_once(later)
    for member_id in members:
        assert [e.points for e in await events_of(pool, member_id, events.PointsExpired)] == [200]  # type: ignore[attr-defined]
    assert (await books(pool, ledger, busy)).entries_sum == 0


DORMANT = (
    "id: dormant\nname: Dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24}\n"
)


@pytest.fixture
async def dormant(pool: asyncpg.Pool) -> tuple[ProgramApplication, PointsApplication]:
    """The DORMANT program applied, and purchases priced by it."""
    programs = ProgramApplication(pool)
    await programs.apply(DORMANT)
    return programs, PointsApplication(pool, 2, programs)


async def active_months_ago(pool: asyncpg.Pool, member_id: str, months: int) -> None:
    """As if the member had enrolled and last earned `months` ago."""
    await pool.execute(
        """UPDATE members SET last_activity_at = now() - make_interval(months => $2),
                              enrolled_at = now() - make_interval(months => $2)
            WHERE member_id = $1""",
        member_id,
        months,
    )


async def test_a_hold_taken_after_an_inactivity_pass_began_keeps_its_points_through_it(
    pool: asyncpg.Pool, ledger: LedgerApplication, dormant: tuple[ProgramApplication, PointsApplication]
) -> None:
    programs, app = dormant
    member_id = await member_with_points(app, 100)  # 200 points
    await active_months_ago(pool, member_id, 26)
    pass_began = utc_now()  # a pass over many members reads its clock once, at its start
    hold = await ledger.hold(member_id, 200, new_id("h"), timedelta(hours=1), "reward")
    await ExpiryJob(pool, programs).run_once(pass_began)  # ... and comes to this member after the hold
    captured = await ledger.capture(str(hold.hold.hold_id))
    assert captured.entry is not None and captured.entry.points == -200
    assert_balanced(await books(pool, ledger, member_id))


async def test_enrolling_is_activity_even_for_a_member_whose_purchases_were_made_long_before(
    pool: asyncpg.Pool, ledger: LedgerApplication, dormant: tuple[ProgramApplication, PointsApplication]
) -> None:
    programs, app = dormant
    member_id = await member_with_points(app, 0)
    made = utc_now() - 26 * 31 * DAY  # sent only now, by a member who enrolled today
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(1000, "USD"), (), made, ""))
    job = ExpiryJob(pool, programs)
    await job.run_once(utc_now() + timedelta(seconds=5))
    assert (await books(pool, ledger, member_id)).entries_sum == 20
    await job.run_once(utc_now() + 25 * 31 * DAY)  # two years after enrolling, nothing since
    assert (await books(pool, ledger, member_id)).entries_sum == 0


async def test_redeeming_is_activity_but_a_goodwill_credit_is_not(
    pool: asyncpg.Pool, ledger: LedgerApplication, dormant: tuple[ProgramApplication, PointsApplication]
) -> None:
    programs, app = dormant
    redeemer, credited = await member_with_points(app, 100), await member_with_points(app, 100)
    for member_id in (redeemer, credited):
        await active_months_ago(pool, member_id, 25)  # as if they had earned 25 months ago
    hold = await ledger.hold(redeemer, 50, new_id("h"), DAY, "")
    await ledger.capture(str(hold.hold.hold_id))
    await ledger.adjust(credited, 30, "goodwill", "agent-7", new_id("g"))

    await ExpiryJob(pool, programs).run_once(utc_now() + timedelta(seconds=5))
    assert (await books(pool, ledger, redeemer)).entries_sum == 150
    state = await books(pool, ledger, credited)
    assert (state.entries_sum, state.available) == (0, 0)  # the goodwill credit expired with the rest
    assert_balanced(state)


async def test_a_purchase_sent_late_is_activity_of_the_day_it_was_made(
    pool: asyncpg.Pool, ledger: LedgerApplication, dormant: tuple[ProgramApplication, PointsApplication]
) -> None:
    programs, app = dormant
    member_id = await member_with_points(app, 100)
    await active_months_ago(pool, member_id, 30)
    # Made 26 months ago, sent only now: the member has still done nothing for more than 24 months.
    made = utc_now() - 26 * 31 * DAY
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(1000, "USD"), (), made, ""))
    await ExpiryJob(pool, programs).run_once(utc_now() + timedelta(seconds=5))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)
    assert_balanced(state)


async def test_a_purchase_reported_after_its_points_term_expires_as_it_is_recorded(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(TERM)
    app = PointsApplication(pool, 2, programs)
    member_id = await member_with_points(app, 100)  # 200 points, earned now
    made = utc_now() - 26 * 31 * DAY  # sent only now
    late = await app.record_purchase(Purchase(new_id("p"), member_id, Money(1000, "USD"), (), made, ""))
    assert (late.points_earned, late.balance) == (20, 200)
    state = await books(pool, ledger, member_id)  # no expiry job has run
    assert (state.entries_sum, state.available) == (200, 200)
    assert_balanced(state)
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert [e.points for e in expired] == [20]  # type: ignore[attr-defined]


async def test_points_that_arrive_expired_repay_no_debt(pool: asyncpg.Pool, ledger: LedgerApplication) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(TERM)
    app = PointsApplication(pool, 2, programs)
    member_id = await member_with_points(app, 0)
    spent = new_id("p")
    await app.record_purchase(Purchase(spent, member_id, Money(10000, "USD"), (), utc_now(), ""))  # 200 points
    hold = await ledger.hold(member_id, 200, new_id("h"), DAY, "")
    await ledger.capture(str(hold.hold.hold_id))
    await RefundApplication(pool, programs).refund(Refund(new_id("r"), spent, Money(10000, "USD"), utc_now()))
    owed = await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id)
    assert owed == 200

    made = utc_now() - 26 * 31 * DAY
    late = await app.record_purchase(Purchase(new_id("p"), member_id, Money(5000, "USD"), (), made, ""))
    assert (late.points_earned, late.balance) == (100, 0)
    assert await pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == owed
    # The credit, then its expiry, in that order: its balance_after is after the credit, the expiry takes it.
    *_, earned, expired = await events_of(pool, member_id, (events.PointsEarned, events.PointsExpired))
    assert isinstance(earned, events.PointsEarned) and isinstance(expired, events.PointsExpired)
    assert (earned.points, earned.balance_after, expired.points) == (100, 100, 100)
    assert_balanced(await books(pool, ledger, member_id))
