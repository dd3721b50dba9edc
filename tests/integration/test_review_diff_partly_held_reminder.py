"""Points a hold reserved only in part are never announced once the hold is released.

docs/program.md: PointsExpiring announces what GetPointsSchedule shows. A hold that reserves a lot whole leaves it
unmarked, so the lot is announced once the hold ends (tests/integration/test_points_reminders_and_holds.py). A hold
that reserves all but one point of the same lot gets it marked reminded with that one point
(services/points/expiry_reminders.py, _term_reminders): released, the other points show in the schedule as
expiring, and no pass ever announces them, though they expire at the lot's term.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.points.expiry import ExpiryJob
from tests.integration.points_ledger_support import events_of, new_id
from tests.integration.test_points_reminders_and_holds import member_with_points_ending_soon

DAY = timedelta(days=1)


async def test_points_a_released_hold_reserved_in_part_are_announced_before_their_term_ends(
    pool: asyncpg.Pool,
) -> None:
    programs, ledger, member_id = await member_with_points_ending_soon(pool)  # 200 points, term in ~15 days
    hold = await ledger.hold(member_id, 199, new_id("h"), 7 * DAY, "reward")
    await ExpiryJob(pool, programs).run_once()
    first = await events_of(pool, member_id, events.PointsExpiring)
    assert [r.points for r in first] == [1]  # type: ignore[attr-defined]

    await ledger.release(str(hold.hold.hold_id))
    _, schedule = await ledger.points_schedule(member_id)
    assert [due.points for due in schedule.expiring] == [200]
    await ExpiryJob(pool, programs).run_once()
    await ExpiryJob(pool, programs).run_once()

    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = sum(r.points for r in reminders[1:])  # type: ignore[attr-defined]
    term = schedule.expiring[0].at
    assert all(r.expires_at.ToDatetime(tzinfo=UTC) == term for r in reminders)  # type: ignore[attr-defined]
    # The 199 points the hold no longer reserves expire at the same term: the member is told of them.
    assert announced >= 199, [r.points for r in reminders]  # type: ignore[attr-defined]
