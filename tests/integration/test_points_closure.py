"""CloseMember's use case on real PostgreSQL: what a closure forfeits, what it refuses, and what it leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.errors import FailedPrecondition
from services.points.application import PointsApplication
from services.points.birthdays import BirthdayJob
from services.points.bonuses import ActivityRecord
from services.points.closure import ClosureApplication
from services.points.domain import Enrollment, Money, Purchase, Refund, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, events_of, new_id

# 10 points per USD, pending for 30 days, expiring after two years; a birthday bonus and one activity.
PROGRAM = """
id: closing-club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
pending:
  days: 30
expiry:
  months_after_earning: 24
bonuses:
  birthday: {points: 1000, when: month}
  activities:
    - {id: review, points: 50}
"""
CLOSED = "member_id: member '{}' is closed"


class World:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication) -> None:
        self.pool = pool
        self.programs = programs
        self.app = PointsApplication(pool, 2, programs)
        self.ledger = LedgerApplication(pool, programs)
        self.refunds = RefundApplication(pool, programs)
        self.closures = ClosureApplication(pool)

    async def member(self, *, pending_usd: int = 0, available: int = 0, birth_date: str = "") -> str:
        """A member with `pending_usd` dollars of purchase (10 points each, pending) and `available` points."""
        member_id = new_id("m")
        await self.app.enroll(Enrollment(member_id, "", "", "", birth_date=birth_date))
        if pending_usd:
            await self.buy(member_id, pending_usd)
        if available:
            await self.ledger.adjust(member_id, available, "welcome gift", "agent-1", new_id("k"))
        return member_id

    async def buy(
        self, member_id: str, whole_usd: int, purchase_id: str = "", *, ago: timedelta = timedelta(minutes=1)
    ) -> Purchase:
        purchase = Purchase(
            purchase_id or new_id("p"), member_id, Money(whole_usd * 100, "USD"), (), utc_now() - ago, ""
        )
        await self.app.record_purchase(purchase)
        return purchase

    async def entries(self, member_id: str) -> list[tuple[str, int]]:
        rows = await self.pool.fetch(
            "SELECT kind, points FROM ledger_entries WHERE member_id = $1 ORDER BY seq", member_id
        )
        return [(row["kind"], row["points"]) for row in rows]


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM)
    return World(pool, programs)


async def test_closing_forfeits_available_and_pending_points_and_the_books_balance(world: World) -> None:
    member_id = await world.member(pending_usd=30, available=250)  # 300 pending, 250 available
    before = await books(world.pool, world.ledger, member_id)
    assert (before.available, before.pending) == (250, 300)

    closed = await world.closures.close(member_id, "member request: ticket 4411", "agent-7")

    assert (closed.points_forfeited, closed.duplicate, closed.member.status) == (550, False, "closed")
    after = await books(world.pool, world.ledger, member_id)
    assert (after.available, after.pending, after.held, after.entries_sum, after.lots_remaining) == (0, 0, 0, 0, 0)
    assert_balanced(after)
    assert (await world.entries(member_id))[-1] == ("expiry", -550)
    row = await world.pool.fetchrow(
        "SELECT status, closed_at, closed_reason, closed_by FROM members WHERE member_id = $1", member_id
    )
    assert (row["status"], row["closed_reason"], row["closed_by"]) == (
        "closed",
        "member request: ticket 4411",
        "agent-7",
    )
    assert row["closed_at"] == closed.closed_at
    [announced] = await events_of(world.pool, member_id, events.MemberClosed)
    assert isinstance(announced, events.MemberClosed)
    assert (announced.points_forfeited, announced.reason, announced.actor) == (
        550,
        "member request: ticket 4411",
        "agent-7",
    )
    assert announced.ledger_entry_id == closed.entry_id
    # Insights counts the forfeited points off the liability as it counts expired ones.
    expired = await events_of(world.pool, member_id, events.PointsExpired)
    assert [(e.points, e.ledger_entry_id) for e in expired if isinstance(e, events.PointsExpired)] == [
        (550, closed.entry_id)
    ]


async def test_points_of_a_purchase_stamped_ahead_of_the_clock_are_forfeited_too(world: World) -> None:
    """A purchase may be stamped up to 24 hours ahead: its lot is earned later than the closure that forfeits it."""
    member_id = await world.member(available=250)
    await world.buy(member_id, 30, ago=-timedelta(hours=2))  # 300 pending, earned two hours from now

    closed = await world.closures.close(member_id, "member request", "agent-7")

    assert (closed.points_forfeited, closed.member.status) == (550, "closed")
    after = await books(world.pool, world.ledger, member_id)
    assert (after.available, after.pending, after.entries_sum, after.lots_remaining) == (0, 0, 0, 0)
    assert_balanced(after)


async def test_a_member_with_nothing_left_closes_with_no_entry(world: World) -> None:
    member_id = await world.member()
    closed = await world.closures.close(member_id, "fraud", "risk-bot")
    assert (closed.points_forfeited, closed.entry_id) == (0, None)
    assert await world.entries(member_id) == []


async def test_an_open_hold_refuses_the_closure_and_nothing_is_written(world: World) -> None:
    member_id = await world.member(available=400)
    await world.ledger.hold(member_id, 100, new_id("h"), timedelta(hours=1), "free coffee")
    with pytest.raises(
        FailedPrecondition, match=f"member_id: member '{member_id}' has an open hold; capture or release"
    ):
        await world.closures.close(member_id, "member request", "agent-7")
    assert await world.pool.fetchval("SELECT status FROM members WHERE member_id = $1", member_id) == "active"
    assert await world.entries(member_id) == [("adjustment", 400)]
    assert await events_of(world.pool, member_id, events.MemberClosed) == []


async def test_closing_again_answers_the_first_closure_and_writes_nothing(world: World) -> None:
    member_id = await world.member(available=120)
    first = await world.closures.close(member_id, "member request", "agent-7")
    again = await world.closures.close(member_id, "another reason", "agent-8")
    assert again.duplicate and not first.duplicate
    assert (again.points_forfeited, again.entry_id, again.closed_at) == (120, first.entry_id, first.closed_at)
    assert await world.entries(member_id) == [("adjustment", 120), ("expiry", -120)]
    assert len(await events_of(world.pool, member_id, events.MemberClosed)) == 1
    reason = await world.pool.fetchval("SELECT closed_reason FROM members WHERE member_id = $1", member_id)
    assert reason == "member request"


async def test_a_closed_member_earns_spends_and_is_adjusted_no_more(world: World) -> None:
    member_id = await world.member(available=100)
    await world.closures.close(member_id, "member request", "agent-7")
    with pytest.raises(FailedPrecondition, match=CLOSED.format(member_id)):
        await world.buy(member_id, 10)
    activity = ActivityRecord(member_id, "review", new_id("a"), utc_now())
    with pytest.raises(FailedPrecondition, match=CLOSED.format(member_id)):
        await world.app.record_activity(activity)
    with pytest.raises(FailedPrecondition, match=CLOSED.format(member_id)):
        await world.ledger.hold(member_id, 1, new_id("h"), timedelta(hours=1), "")
    with pytest.raises(FailedPrecondition, match=CLOSED.format(member_id)):
        await world.ledger.adjust(member_id, 50, "goodwill", "agent-7", new_id("k"))
    assert await world.entries(member_id) == [("adjustment", 100), ("expiry", -100)]


async def test_a_purchase_recorded_before_the_closure_is_still_answered_as_a_repeat(world: World) -> None:
    member_id = await world.member()
    bought = await world.buy(member_id, 10)
    await world.closures.close(member_id, "member request", "agent-7")
    repeat = await world.app.record_purchase(bought)
    assert (repeat.duplicate, repeat.points_earned) == (True, 100)


async def test_a_refund_after_the_closure_takes_nothing_the_closure_forfeited(world: World) -> None:
    member_id = await world.member()
    bought = await world.buy(member_id, 40)  # 400 points, pending
    await world.closures.close(member_id, "member request", "agent-7")

    refunded = await world.refunds.refund(Refund(new_id("r"), bought.purchase_id, Money(4000, "USD"), utc_now()))

    assert refunded.refund.points_reversed == refunded.refund.points_expired == 400
    assert (refunded.refund.points_owed, refunded.refund.points_overdrawn, refunded.entry) == (0, 0, None)
    state = await books(world.pool, world.ledger, member_id)
    assert (
        state.entries_sum,
        await world.pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id),
    ) == (0, 0)
    assert_balanced(state)


async def test_points_owed_after_a_refund_stay_recorded_through_the_closure(world: World) -> None:
    member_id = await world.member(available=500)
    bought = await world.buy(member_id, 10, purchase_id=new_id("p"))  # 100 pending
    spent = await world.ledger.hold(member_id, 500, new_id("h"), timedelta(hours=1), "")
    await world.ledger.capture(str(spent.hold.hold_id))
    await world.refunds.refund(Refund(new_id("r"), bought.purchase_id, Money(1000, "USD"), utc_now()))
    owed = await world.pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id)

    await world.closures.close(member_id, "member request", "agent-7")

    assert await world.pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", member_id) == owed
    assert_balanced(await books(world.pool, world.ledger, member_id))


async def test_the_expiry_and_birthday_jobs_leave_a_closed_member_alone(world: World) -> None:
    birth_month = (utc_now() + timedelta(days=40)).month
    member_id = await world.member(available=100, birth_date=f"1990-{birth_month:02d}-15")
    still_active = await world.member(birth_date=f"1990-{birth_month:02d}-15")
    await world.closures.close(member_id, "member request", "agent-7")
    entries = await world.entries(member_id)

    in_birth_month = datetime(utc_now().year + 1, birth_month, 16, 12, tzinfo=UTC)
    assert (await BirthdayJob(world.pool, world.programs).run_once(in_birth_month)).members_credited == 1
    assert await world.entries(still_active) == [("bonus", 1000)]
    await ExpiryJob(world.pool, world.programs).run_once(in_birth_month + timedelta(days=3 * 365))

    assert await world.entries(member_id) == entries
    kinds = (events.PointsExpiring, events.TierAtRisk)
    assert await events_of(world.pool, member_id, kinds) == []
