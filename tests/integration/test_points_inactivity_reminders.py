"""Reminders before the inactivity policy takes a member's points, and the date it takes them, against real
PostgreSQL: the expiry job's passes, month ends and leap days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, utc_now
from services.points.dormancy import dormant_at_sql
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program import ExpiryPolicy, add_months
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import events_of, new_id

DAY = timedelta(days=1)


async def test_a_dormant_member_is_reminded_before_the_inactivity_policy_expires_their_points(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """expiry.reminder_days: "Remind the member (PointsExpiring) this many days before points expire"."""
    programs = ProgramApplication(pool)
    await programs.apply(
        "id: dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
        "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24, reminder_days: 30}\n"
    )
    app = PointsApplication(pool, 2, programs)
    member_id, active_again = new_id("m"), new_id("m")
    for member in (member_id, active_again):
        await app.enroll(Enrollment(member, "", "", ""))
        await app.record_purchase(Purchase(new_id("p"), member, Money(10000, "USD"), (), utc_now(), ""))
    job = ExpiryJob(pool, programs)
    now = utc_now()
    dormant_at = add_months(now, 24)
    await job.run_once(dormant_at - 40 * DAY)  # not yet within the 30 days
    for _ in range(2):
        await job.run_once(dormant_at - 10 * DAY)  # ten days before the points go: remind, once
    # Active again a year on: a new date, reminded before it in turn.
    a_year_on = add_months(now, 12)
    monkeypatch.setattr("services.points.domain.utc_now", lambda: a_year_on)
    await app.record_purchase(Purchase(new_id("p"), active_again, Money(500, "USD"), (), a_year_on, ""))
    await job.run_once(add_months(now, 36) - 10 * DAY)
    await job.run_once(dormant_at + DAY)  # the first member's went
    assert [e.points for e in await events_of(pool, member_id, events.PointsExpired)] == [200]  # type: ignore[attr-defined]
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    # Dated 24 months after the member's last activity, a moment before `now`.
    assert [(e.points, e.expires_at.ToDatetime(UTC).date()) for e in reminders] == [(200, dormant_at.date())]  # type: ignore[attr-defined]
    again = await events_of(pool, active_again, events.PointsExpiring)
    assert [(e.points, e.expires_at.ToDatetime(UTC).date()) for e in again] == [  # type: ignore[attr-defined]
        (200, dormant_at.date()),
        (210, add_months(now, 36).date()),
    ]


DORMANT_REMINDED = (
    "id: dormant\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {inactivity_months: 24, reminder_days: 30}\n"
)


async def test_points_credited_after_a_pass_found_nothing_to_remind_of_are_still_reminded_before_inactivity_takes_them(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    """expiry.reminder_days: remind "before the date the member's points would go for want of activity". A pass
    that found the member with no points must not count as the reminder for that date: points credited since
    without activity (goodwill, a correction, a birthday bonus) go on the same date and deserve one."""
    programs = ProgramApplication(pool)
    await programs.apply(DORMANT_REMINDED)
    app = PointsApplication(pool, 2, programs)
    member = await app.enroll(Enrollment(new_id("m"), "", "", ""))  # never active: nothing to lose yet
    job = ExpiryJob(pool, programs)
    dormant_at = add_months(member.enrolled_at.astimezone(UTC), 24)
    await job.run_once(dormant_at - 20 * DAY)  # within the 30 days, 0 points: nothing to say
    await ledger.adjust(member.member_id, 50, "goodwill", "agent-7", new_id("adj"))  # not activity: same date
    await job.run_once(dormant_at - 10 * DAY)
    await job.run_once(dormant_at + DAY)
    assert [e.points for e in await events_of(pool, member.member_id, events.PointsExpired)] == [50]  # type: ignore[attr-defined]
    reminders = await events_of(pool, member.member_id, events.PointsExpiring)
    assert [(e.points, e.expires_at.ToDatetime(UTC)) for e in reminders] == [(50, dormant_at)]  # type: ignore[attr-defined]


async def _last_active_with_200_points(
    pool: asyncpg.Pool, program: str, last_active: datetime
) -> tuple[ExpiryJob, str]:
    """Under `program`, a member with 200 points, enrolled and last active at `last_active`; the expiry job."""
    programs = ProgramApplication(pool)
    await programs.apply(program)
    app = PointsApplication(pool, 2, programs)
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now(), ""))
    await pool.execute(
        "UPDATE members SET enrolled_at = $2, last_activity_at = $2 WHERE member_id = $1", member_id, last_active
    )
    return ExpiryJob(pool, programs), member_id


async def test_the_inactivity_policy_takes_the_points_at_the_first_pass_after_the_date_it_announced(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    """docs/program.md, inactivity_expires_at: "the date PointsExpiring announces, and the job takes them at its
    first pass after it". A member last active on 29 February is announced the 28th two years on (months added
    as add_months adds them), so the job takes the points on the 28th, not on 1 March."""
    job, member_id = await _last_active_with_200_points(pool, DORMANT_REMINDED, datetime(2032, 2, 29, 10, tzinfo=UTC))
    announced_date = datetime(2034, 2, 28, 10, 0, tzinfo=UTC)
    await job.run_once(announced_date - 10 * DAY)
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert [(e.points, e.expires_at.ToDatetime(UTC)) for e in reminders] == [(200, announced_date)]  # type: ignore[attr-defined]

    await job.run_once(announced_date + timedelta(hours=2))  # the first pass after the announced date
    assert [e.points for e in await events_of(pool, member_id, events.PointsExpired)] == [200]  # type: ignore[attr-defined]


async def test_the_job_counts_the_inactivity_date_as_the_schedule_does_at_month_ends_and_leap_days(
    pool: asyncpg.Pool,
) -> None:
    """The sweep and the reminders date inactivity in SQL (dormancy.dormant_at_sql), GetPointsSchedule in Python
    (ExpiryPolicy.dormant_at): the same instant for every moment, whatever the session's time zone."""
    moments = [
        datetime(2031, 1, 1, 0, 30, tzinfo=UTC) + hours * timedelta(hours=1) for hours in range(0, 3 * 366 * 24, 11)
    ]
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL TIME ZONE 'Pacific/Kiritimati'")  # UTC+14: another day than UTC
        for months in (1, 11, 12, 13, 24, 25):
            policy = ExpiryPolicy(None, months, None)
            dated = await connection.fetch(
                f"SELECT t, {dormant_at_sql('t', '$2')} AS dormant_at FROM unnest($1::timestamptz[]) AS t",
                moments,
                months,
            )
            assert [(r["t"], r["dormant_at"]) for r in dated] == [(t, policy.dormant_at(t)) for t in moments]


async def test_a_member_last_active_on_31_january_is_reminded_a_full_reminder_period_before_28_february(
    pool: asyncpg.Pool,
) -> None:
    """Months that end the date before the plain shift (31 January + 25 months: 28 February) are still found by
    the first pass within reminder_days, not only days later."""
    program = DORMANT_REMINDED.replace("inactivity_months: 24", "inactivity_months: 25")
    job, member_id = await _last_active_with_200_points(pool, program, datetime(2031, 1, 31, 10, tzinfo=UTC))
    dormant_at = datetime(2033, 2, 28, 10, 0, tzinfo=UTC)
    await job.run_once(dormant_at - 30 * DAY + timedelta(hours=1))
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert [(e.points, e.expires_at.ToDatetime(UTC)) for e in reminders] == [(200, dormant_at)]  # type: ignore[attr-defined]
