"""Points a hold reserved in part when the inactivity reminder went out are never announced once it is released.

remind_of_dormancy (services/points/expiry_reminders.py) announces only the points no open hold reserves, then
marks the member's date reminded (members.inactivity_reminded_for). Released, the hold's points go on that same
date: GetPointsSchedule shows them as inactivity_points, the sweep takes them, and no pass tells the member, since
the date counts as reminded. Before this change the reminder announced them (a hold's points were counted); a hold
reserving every point leaves the date unmarked and is announced after its release.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.points.application import PointsApplication
from services.points.domain import Enrollment
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import events_of, new_id
from tests.integration.test_points_reminders_and_holds import TERM_AND_INACTIVITY

DAY = timedelta(days=1)


async def test_points_a_released_hold_reserved_in_part_are_announced_before_inactivity_takes_them(
    pool: asyncpg.Pool,
) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(TERM_AND_INACTIVITY)
    app = PointsApplication(pool, 2, programs)
    ledger = LedgerApplication(pool, programs)
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    await ledger.adjust(member_id, 200, "goodwill", "agent-7", new_id("adj"))  # no term: inactivity takes it
    hold = await ledger.hold(member_id, 150, new_id("h"), 7 * DAY, "reward")
    await pool.execute(  # all points go in about a month without activity
        """UPDATE members SET last_activity_at = now() - make_interval(months => 23),
                              enrolled_at = now() - make_interval(months => 23)
            WHERE member_id = $1""",
        member_id,
    )
    await ExpiryJob(pool, programs).run_once()
    first = await events_of(pool, member_id, events.PointsExpiring)
    assert [r.points for r in first] == [50]  # type: ignore[attr-defined]

    await ledger.release(str(hold.hold.hold_id))
    _, schedule = await ledger.points_schedule(member_id)
    assert schedule.inactivity is not None and schedule.inactivity.points == 200
    await ExpiryJob(pool, programs).run_once()
    await ExpiryJob(pool, programs).run_once()

    reminders = await events_of(pool, member_id, events.PointsExpiring)
    assert all(  # one date throughout: no activity moved it
        r.expires_at.ToDatetime(tzinfo=UTC) == schedule.inactivity.at  # type: ignore[attr-defined]
        for r in reminders
    )
    # The 150 points the hold no longer reserves go on that date: the member is told of them.
    announced = sum(r.points for r in reminders[1:])  # type: ignore[attr-defined]
    assert announced >= 150, [r.points for r in reminders]  # type: ignore[attr-defined]
