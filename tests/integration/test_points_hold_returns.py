"""ReturnCapturedHold on real PostgreSQL: a captured hold's points come back to the lots they were spent from, with
their expiry, not as new points, not earned; what expired meanwhile expires at once; once per hold."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.common.v1.common_pb2 import Money as MoneyMessage
from loyalty.events.v1 import points_pb2 as events
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.events import timestamp
from services.points.application import PointsApplication
from services.points.closure import ClosureApplication
from services.points.domain import Enrollment, Money, Purchase, utc_now
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.schedule import Due
from tests.integration.points_ledger_support import assert_balanced, books, events_of, new_id
from tests.integration.support import field_violations

DAY = timedelta(days=1)
# The tester's program: 10 points per USD, expiring a month after they are earned.
MONTH_TERM = (
    "id: month\nname: Month\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 10}}\nexpiry: {months_after_earning: 1}\n"
)


@pytest.fixture
async def programs(pool: asyncpg.Pool) -> ProgramApplication:
    programs = ProgramApplication(pool)
    await programs.apply(MONTH_TERM)
    return programs


@pytest.fixture
def app(pool: asyncpg.Pool, programs: ProgramApplication) -> PointsApplication:
    return PointsApplication(pool, 2, programs)


@pytest.fixture
def ledger(pool: asyncpg.Pool, programs: ProgramApplication) -> LedgerApplication:
    return LedgerApplication(pool, programs)


async def buyer(app: PointsApplication, *usd_days_ago: tuple[int, int]) -> str:
    """A member with a purchase of each (whole USD, days ago)."""
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    for usd, days in usd_days_ago:
        purchase = Purchase(new_id("p"), member_id, Money(usd * 100, "USD"), (), utc_now() - days * DAY, "")
        await app.record_purchase(purchase)
    return member_id


async def redeemed(ledger: LedgerApplication, member_id: str, points: int) -> str:
    """The id of a captured hold of `points`."""
    hold = await ledger.hold(member_id, points, new_id("h"), DAY, "reward")
    await ledger.capture(str(hold.hold.hold_id))
    return str(hold.hold.hold_id)


async def test_returned_points_keep_their_expiry_and_are_not_earned_again(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await buyer(app, (100, 0))  # 1000 points, expiring in a month
    _, before = await ledger.points_schedule(member_id)
    (term,) = before.expiring
    hold_id = await redeemed(ledger, member_id, 1000)
    assert (await ledger.points_schedule(member_id))[1].expiring == ()

    returned = await ledger.return_captured(hold_id, "cancel:r-1", "cancelled redemption r-1", "rewards-service")

    assert (returned.entry.kind, returned.entry.points, returned.points_expired) == ("redemption_return", 1000, 0)
    assert returned.entry.idempotency_key == f"return:{hold_id}" and not returned.duplicate
    member, schedule = await ledger.points_schedule(member_id)
    assert schedule.expiring == (Due(term.at, 1000),)
    assert (member.balance, member.lifetime_earned) == (1000, 1000)
    state = await books(pool, ledger, member_id)
    assert (state.available, state.entries_sum) == (1000, 1000)
    assert_balanced(state)
    adjusted = await events_of(pool, member_id, events.PointsAdjusted)
    assert [(e.points, e.reason, e.actor, e.balance_after) for e in adjusted] == [  # type: ignore[attr-defined]
        (1000, "cancelled redemption r-1", "rewards-service", 1000)
    ]


async def test_points_whose_term_ended_meanwhile_expire_as_they_are_returned(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await buyer(app, (60, 20), (40, 0))  # 600 points earned 20 days ago, 400 today
    _, before = await ledger.points_schedule(member_id)
    older, newer = before.expiring
    hold_id = await redeemed(ledger, member_id, 1000)
    # Time passes: the older purchase's term ends before the redemption is cancelled.
    await pool.execute("UPDATE lots SET expires_at = now() - interval '1 second' WHERE expires_at = $1", older.at)

    returned = await ledger.return_captured(hold_id, "cancel:r-2", "cancelled", "rewards-service")

    assert returned.points_expired == 600
    member, schedule = await ledger.points_schedule(member_id)
    assert schedule.expiring == (Due(newer.at, 400),)
    assert (member.balance, member.lifetime_earned) == (400, 1000)
    state = await books(pool, ledger, member_id)
    assert (state.available, state.entries_sum) == (400, 400)
    assert_balanced(state)
    # The return, then the expiry of what it brought back past its term: never spendable.
    announced = await events_of(pool, member_id, (events.PointsAdjusted, events.PointsExpired))
    assert [(type(e).__name__, e.points, e.balance_after) for e in announced] == [  # type: ignore[attr-defined]
        ("PointsAdjusted", 1000, 1000),
        ("PointsExpired", 600, 400),
    ]


async def test_points_an_open_hold_keeps_do_not_count_as_expired(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await buyer(app, (30, 20), (50, 0))  # 300 points earned 20 days ago, 500 today
    _, before = await ledger.points_schedule(member_id)
    older = before.expiring[0]
    hold_id = await redeemed(ledger, member_id, 300)  # spends the older lot
    kept = await ledger.hold(member_id, 200, new_id("h"), DAY, "reward")  # taken while that lot's term runs
    # Its term ends after the open hold was taken, before the redemption is cancelled.
    await pool.execute("UPDATE lots SET expires_at = clock_timestamp() WHERE expires_at = $1", older.at)

    returned = await ledger.return_captured(hold_id, "cancel:r-6", "cancelled", "rewards-service")
    again = await ledger.return_captured(hold_id, "cancel:r-6", "cancelled", "rewards-service")

    # The open hold keeps 200 of the 300 returned points past their term, as it would had they never been spent.
    assert (returned.points_expired, again.points_expired) == (100, 100)
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert [e.points for e in expired] == [100]  # type: ignore[attr-defined]
    expiries = await pool.fetch("SELECT points FROM ledger_entries WHERE member_id = $1 AND kind = 'expiry'", member_id)
    assert [r["points"] for r in expiries] == [-100]
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.held, state.available) == (700, 200, 500)
    assert_balanced(state)
    await ledger.capture(str(kept.hold.hold_id))  # spends the kept points, not the newer lot's
    member, schedule = await ledger.points_schedule(member_id)
    assert (member.balance, [d.points for d in schedule.expiring]) == (500, [500])


async def test_a_repeat_answers_the_first_return_and_writes_nothing(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = await buyer(app, (60, 20), (40, 0))
    _, before = await ledger.points_schedule(member_id)
    hold_id = await redeemed(ledger, member_id, 1000)
    await pool.execute(
        "UPDATE lots SET expires_at = now() - interval '1 second' WHERE expires_at = $1", before.expiring[0].at
    )
    first = await ledger.return_captured(hold_id, "cancel:r-3", "cancelled", "rewards-service")
    entries = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE member_id = $1", member_id)

    again = await ledger.return_captured(hold_id, "cancel:r-3", "cancelled", "rewards-service")

    assert again.duplicate and (again.entry, again.points_expired) == (first.entry, first.points_expired) == (
        first.entry,
        600,
    )
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE member_id = $1", member_id) == entries
    member, _ = await ledger.points_schedule(member_id)
    assert (member.balance, member.lifetime_earned) == (400, 1000)
    with pytest.raises(AlreadyExists, match="hold_id: its points were already returned"):
        await ledger.return_captured(hold_id, "another key", "cancelled", "rewards-service")
    with pytest.raises(AlreadyExists, match="idempotency_key"):
        await ledger.return_captured(hold_id, "cancel:r-3", "another reason", "rewards-service")
    with pytest.raises(AlreadyExists, match="idempotency_key"):  # the keys of returns and adjustments are one
        await ledger.adjust(member_id, 5, "goodwill", "agent-7", "cancel:r-3")


async def test_only_a_captured_hold_of_an_open_member_is_returned(
    app: PointsApplication, ledger: LedgerApplication, pool: asyncpg.Pool
) -> None:
    member_id = await buyer(app, (100, 0))
    held = await ledger.hold(member_id, 100, new_id("h"), DAY, "")
    with pytest.raises(FailedPrecondition, match="hold_id: the hold is held"):
        await ledger.return_captured(str(held.hold.hold_id), "k-1", "cancelled", "a")
    await ledger.release(str(held.hold.hold_id))
    with pytest.raises(FailedPrecondition, match="hold_id: the hold is released"):
        await ledger.return_captured(str(held.hold.hold_id), "k-1", "cancelled", "a")
    with pytest.raises(NotFound, match="hold_id"):
        await ledger.return_captured(str(uuid.uuid4()), "k-1", "cancelled", "a")
    with pytest.raises(InvalidArgument):
        await ledger.return_captured("not-a-hold", "k-1", "cancelled", "a")

    hold_id = await redeemed(ledger, member_id, 300)
    await ClosureApplication(pool).close(member_id, "member request", "agent-7")
    with pytest.raises(FailedPrecondition, match=f"member_id: member '{member_id}' is closed"):
        await ledger.return_captured(hold_id, "k-2", "cancelled", "a")


async def test_a_give_back_made_by_adjust_points_under_the_key_is_that_return(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    """A cancellation begun before ReturnCapturedHold existed credited the points by AdjustPoints under its key."""
    member_id = await buyer(app, (100, 0))
    hold_id = await redeemed(ledger, member_id, 1000)
    credited = await ledger.adjust(member_id, 1000, "cancelled", "rewards-service", "cancel:r-4")

    returned = await ledger.return_captured(hold_id, "cancel:r-4", "cancelled", "rewards-service")

    assert returned.duplicate and returned.entry == credited.entry
    member, _ = await ledger.points_schedule(member_id)
    assert member.balance == 1000
    with pytest.raises(AlreadyExists, match="hold_id"):
        await ledger.return_captured(hold_id, "cancel:r-4b", "cancelled", "rewards-service")


async def test_over_grpc_with_the_original_expiry_and_each_field_named(
    pool: asyncpg.Pool, programs: ProgramApplication, channel: grpc.aio.Channel
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member_id = new_id("m")
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    bought = await points.RecordPurchase(
        pb.RecordPurchaseRequest(
            purchase_id=new_id("p"),
            member_id=member_id,
            amount=MoneyMessage(amount_minor=10000, currency_code="USD"),
            occurred_at=timestamp(utc_now()),
        )
    )
    hold = await points.HoldPoints(
        pb.HoldPointsRequest(member_id=member_id, points=1000, idempotency_key=new_id("h"), ttl=Duration(seconds=60))
    )
    await points.CaptureHold(pb.CaptureHoldRequest(hold_id=hold.hold.hold_id))
    request = pb.ReturnCapturedHoldRequest(
        hold_id=hold.hold.hold_id, idempotency_key="cancel:r-5", reason="cancelled", actor="rewards-service"
    )

    first, again = await points.ReturnCapturedHold(request), await points.ReturnCapturedHold(request)

    assert (first.entry.kind, first.entry.points, first.points_expired, first.duplicate) == (
        pb.ENTRY_KIND_REDEMPTION_RETURN,
        1000,
        0,
        False,
    )
    assert first.hold.status == pb.HOLD_STATUS_CAPTURED
    assert again.duplicate and again.entry == first.entry
    schedule = await points.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id=member_id))
    assert [(e.expires_at, e.points) for e in schedule.expiring] == [(bought.expires_at, 1000)]
    balance = await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))
    assert (balance.available, balance.lifetime_earned) == (1000, 1000)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await points.ReturnCapturedHold(pb.ReturnCapturedHoldRequest(hold_id=hold.hold.hold_id))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(refused.value)) == {"idempotency_key", "reason", "actor"}
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await points.ReturnCapturedHold(pb.ReturnCapturedHoldRequest())
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(empty.value)) == {"hold_id", "idempotency_key", "reason", "actor"}
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await points.ReturnCapturedHold(pb.ReturnCapturedHoldRequest(hold_id=str(uuid.uuid4()), **_texts()))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def _texts() -> dict[str, str]:
    return {"idempotency_key": new_id("k"), "reason": "cancelled", "actor": "a"}
