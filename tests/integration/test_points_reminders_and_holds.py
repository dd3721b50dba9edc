"""PointsExpiring announces the points GetPointsSchedule shows, not those an open hold reserves (the hold's capture
spends them; the expiry job leaves them while it is open).

docs/program.md (`expiry`): GetPointsSchedule's `expiring` leaves out "Points an open hold reserves ... the hold's
capture spends them, and the expiry job leaves them while it is open", and its `inactivity_points` are "all but
what holds reserve" on "the date PointsExpiring announces". tests/integration/test_points_schedule.py holds the
reminders to the schedule's dates and points (services/points/expiry_reminders.py).
"""

from __future__ import annotations

from datetime import UTC, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import HoldResult, LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import events_of, new_id

DAY = timedelta(days=1)
# A 12-month term, reminded 60 days before; everything goes after 24 months without activity.
TERM_AND_INACTIVITY = (
    "id: dormancy\nname: Dormancy\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {months_after_earning: 12, inactivity_months: 24, reminder_days: 60}\n"
)


async def enrolled(pool: asyncpg.Pool) -> tuple[ProgramApplication, PointsApplication, LedgerApplication, str]:
    programs = ProgramApplication(pool)
    await programs.apply(TERM_AND_INACTIVITY)
    app = PointsApplication(pool, 2, programs)
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    return programs, app, LedgerApplication(pool, programs), member_id


async def member_with_points_ending_soon(pool: asyncpg.Pool) -> tuple[ProgramApplication, LedgerApplication, str]:
    """A member with 200 points whose 12-month term ends in about 15 days, inside the 60-day reminder window."""
    programs, app, ledger, member_id = await enrolled(pool)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now() - 350 * DAY, ""))
    return programs, ledger, member_id


async def dormant_member_holding_150_of_200(
    pool: asyncpg.Pool,
) -> tuple[ProgramApplication, LedgerApplication, str, HoldResult]:
    """A member with 200 points of no term, which inactivity takes in about a month, and a hold of 150 of them."""
    programs, _, ledger, member_id = await enrolled(pool)
    await ledger.adjust(member_id, 200, "goodwill", "agent-7", new_id("adj"))
    hold = await ledger.hold(member_id, 150, new_id("h"), 7 * DAY, "reward")
    await pool.execute(
        """UPDATE members SET last_activity_at = now() - make_interval(months => 23),
                              enrolled_at = now() - make_interval(months => 23)
            WHERE member_id = $1""",
        member_id,
    )
    return programs, ledger, member_id, hold


async def test_the_term_reminder_announces_the_points_the_schedule_says_expire_not_those_a_hold_reserves(
    pool: asyncpg.Pool,
) -> None:
    programs, ledger, member_id = await member_with_points_ending_soon(pool)
    await ledger.hold(member_id, 150, new_id("h"), 7 * DAY, "reward")  # the capture spends 150 of them

    _, schedule = await ledger.points_schedule(member_id)
    assert [due.points for due in schedule.expiring] == [50]
    await ExpiryJob(pool, programs).run_once(utc_now())

    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = [(r.expires_at.ToDatetime(tzinfo=UTC), r.points) for r in reminders]  # type: ignore[attr-defined]
    assert announced == [(due.at, due.points) for due in schedule.expiring]


async def test_the_inactivity_reminder_announces_the_points_the_schedule_says_go_not_those_a_hold_reserves(
    pool: asyncpg.Pool,
) -> None:
    programs, ledger, member_id, _ = await dormant_member_holding_150_of_200(pool)

    _, schedule = await ledger.points_schedule(member_id)
    assert schedule.inactivity is not None and schedule.inactivity.points == 50
    await ExpiryJob(pool, programs).run_once(utc_now())

    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = [(r.expires_at.ToDatetime(tzinfo=UTC), r.points) for r in reminders]  # type: ignore[attr-defined]
    assert announced == [(schedule.inactivity.at, schedule.inactivity.points)]


async def test_points_a_hold_reserved_whole_are_announced_once_it_is_released(pool: asyncpg.Pool) -> None:
    programs, ledger, member_id = await member_with_points_ending_soon(pool)
    hold = await ledger.hold(member_id, 200, new_id("h"), 7 * DAY, "reward")
    await ExpiryJob(pool, programs).run_once(utc_now())
    assert await events_of(pool, member_id, events.PointsExpiring) == []

    await ledger.release(str(hold.hold.hold_id))
    await ExpiryJob(pool, programs).run_once(utc_now())
    await ExpiryJob(pool, programs).run_once(utc_now())
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert [r.points for r in reminders] == [200]  # type: ignore[attr-defined]


async def test_a_term_reminder_pass_skips_a_lot_another_transaction_is_changing_and_reminds_of_it_next(
    pool: asyncpg.Pool,
) -> None:
    programs, _, member_id = await member_with_points_ending_soon(pool)
    async with pool.acquire() as other, other.transaction():
        await other.execute("SELECT 1 FROM lots WHERE member_id = $1 FOR UPDATE", member_id)
        await ExpiryJob(pool, programs).run_once(utc_now())  # would wait here, on a lot without its member's lock
    assert await events_of(pool, member_id, events.PointsExpiring) == []

    await ExpiryJob(pool, programs).run_once(utc_now())
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert [r.points for r in reminders] == [200]  # type: ignore[attr-defined]


async def test_points_a_hold_kept_from_a_term_reminder_are_announced_once_it_is_released(pool: asyncpg.Pool) -> None:
    programs, ledger, member_id = await member_with_points_ending_soon(pool)
    hold = await ledger.hold(member_id, 199, new_id("h"), 7 * DAY, "reward")
    await ExpiryJob(pool, programs).run_once(utc_now())  # announces the 1 point the hold leaves

    await ledger.release(str(hold.hold.hold_id))
    await ExpiryJob(pool, programs).run_once(utc_now())
    await ExpiryJob(pool, programs).run_once(utc_now())
    _, schedule = await ledger.points_schedule(member_id)
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = [(r.expires_at.ToDatetime(tzinfo=UTC), r.points) for r in reminders]  # type: ignore[attr-defined]
    (term,) = schedule.expiring
    assert announced == [(term.at, 1), (term.at, 200)]


async def test_points_a_hold_kept_from_an_inactivity_reminder_are_announced_once_it_is_released(
    pool: asyncpg.Pool,
) -> None:
    programs, ledger, member_id, hold = await dormant_member_holding_150_of_200(pool)
    await ExpiryJob(pool, programs).run_once(utc_now())  # announces the 50 the hold leaves

    await ledger.release(str(hold.hold.hold_id))
    await ExpiryJob(pool, programs).run_once(utc_now())
    await ExpiryJob(pool, programs).run_once(utc_now())
    _, schedule = await ledger.points_schedule(member_id)
    assert schedule.inactivity is not None
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = [(r.expires_at.ToDatetime(tzinfo=UTC), r.points) for r in reminders]  # type: ignore[attr-defined]
    assert announced == [(schedule.inactivity.at, 50), (schedule.inactivity.at, 200)]
