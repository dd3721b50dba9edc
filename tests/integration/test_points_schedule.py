"""GetPointsSchedule on real PostgreSQL: when points expire and pending points become available, through the
application and over gRPC, with holds, a pending window, a fixed term and an inactivity policy."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.common.v1.common_pb2 import Money as MoneyMessage
from loyalty.events.v1 import points_pb2 as events
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services import client
from services.common.events import timestamp
from services.points import store
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program import add_months
from services.points.program_application import ProgramApplication
from services.points.purchases import PurchaseResult
from services.points.schedule import Due
from tests.integration.points_ledger_support import events_of, new_id
from tests.integration.support import field_violations

DAY = timedelta(days=1)
# Points pending 14 days, then spendable until 12 months after the purchase (in Paris).
TERM_AND_PENDING = (
    "id: schedule\nname: Schedule\neffective_from: 2020-01-01\ntimezone: Europe/Paris\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {months_after_earning: 12}\npending: {days: 14}\n"
)
# A 12-month term, and everything goes after 24 months without activity.
TERM_AND_INACTIVITY = (
    "id: dormancy\nname: Dormancy\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 2}}\nexpiry: {months_after_earning: 12, inactivity_months: 24, reminder_days: 60}\n"
)


async def with_program(pool: asyncpg.Pool, definition: str) -> tuple[ProgramApplication, PointsApplication]:
    programs = ProgramApplication(pool)
    await programs.apply(definition)
    return programs, PointsApplication(pool, 2, programs)


async def enrolled(app: PointsApplication) -> str:
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    return member_id


async def bought(app: PointsApplication, member_id: str, whole_usd: int, occurred_at: datetime) -> PurchaseResult:
    purchase = Purchase(new_id("p"), member_id, Money(whole_usd * 100, "USD"), (), occurred_at, "")
    return await app.record_purchase(purchase)


def terms(result: PurchaseResult) -> tuple[datetime, datetime]:
    available_at, expires_at = result.terms.available_at, result.terms.expires_at
    assert available_at is not None and expires_at is not None
    return available_at, expires_at


async def test_points_expire_by_purchase_soonest_first_pending_ones_say_when_and_held_ones_are_not_expiring(
    pool: asyncpg.Pool,
) -> None:
    programs, app = await with_program(pool, TERM_AND_PENDING)
    ledger = LedgerApplication(pool, programs)
    member_id = await enrolled(app)
    now = utc_now()
    older = await bought(app, member_id, 100, now - 40 * DAY)  # 200 points, available, the first to expire
    newer = await bought(app, member_id, 50, now - 20 * DAY)  # 100 points, available
    recent = await bought(app, member_id, 30, now - DAY)  # 60 points, pending 13 more days
    goodwill = await ledger.adjust(member_id, 25, "goodwill", "agent-7", new_id("adj"))  # 12 months from now
    hold = await ledger.hold(member_id, 80, new_id("h"), DAY, "reward")  # reserves 80 of `older`

    (_, older_expires), (_, newer_expires), (recent_available, recent_expires) = map(terms, (older, newer, recent))
    # The term is 12 months in the program's time zone: the same wall-clock time in Paris a year on.
    assert older_expires == add_months((now - 40 * DAY).astimezone(ZoneInfo("Europe/Paris")), 12).astimezone(UTC)
    member, schedule = await ledger.points_schedule(member_id)
    assert member.member_id == member_id
    goodwill_earned, goodwill_expires = await earned_and_term(pool, goodwill.entry)
    assert goodwill_expires == add_months(goodwill_earned.astimezone(ZoneInfo("Europe/Paris")), 12)
    assert schedule.expiring == (
        Due(older_expires, 120),
        Due(newer_expires, 100),
        Due(recent_expires, 60),
        Due(goodwill_expires, 25),
    )
    assert schedule.pending == (Due(recent_available, 60),)
    assert recent_available > now + 12 * DAY
    assert (schedule.more_expiring, schedule.more_pending, schedule.inactivity) == (False, False, None)
    balances = await ledger.balances(member_id)
    assert (balances.available, balances.pending, balances.held) == (245, 60, 80)

    await ledger.release(str(hold.hold.hold_id))  # the held points are the member's to lose again
    _, schedule = await ledger.points_schedule(member_id)
    assert schedule.expiring[0] == Due(older_expires, 200)


async def term_of(pool: asyncpg.Pool, entry: store.EntryRow) -> datetime:
    """When the points of a credit's lot expire."""
    return (await earned_and_term(pool, entry))[1]


async def earned_and_term(pool: asyncpg.Pool, entry: store.EntryRow) -> tuple[datetime, datetime]:
    """When the points of a credit's lot were earned, and when they expire."""
    lot = await pool.fetchrow("SELECT earned_at, expires_at FROM lots WHERE entry_id = $1", entry.entry_id)
    return lot["earned_at"], lot["expires_at"]


async def active_months_ago(pool: asyncpg.Pool, member_id: str, months: int) -> datetime:
    """As if the member had enrolled and was last active `months` ago; returns that time."""
    moment: datetime = await pool.fetchval(
        """UPDATE members SET last_activity_at = now() - make_interval(months => $2),
                              enrolled_at = now() - make_interval(months => $2)
            WHERE member_id = $1 RETURNING last_activity_at""",
        member_id,
        months,
    )
    return moment


async def test_the_inactivity_date_and_points_are_those_the_expiry_job_reminds_the_member_of(
    pool: asyncpg.Pool,
) -> None:
    programs, app = await with_program(pool, TERM_AND_INACTIVITY)
    ledger = LedgerApplication(pool, programs)
    member_id = await enrolled(app)
    soon = await bought(app, member_id, 100, utc_now() - 350 * DAY)  # 200 points, term ends in about 15 days
    # Its 12-month term ends after the inactivity date: the inactivity policy takes it first.
    goodwill = await ledger.adjust(member_id, 50, "goodwill", "agent-7", new_id("adj"))
    last_active = await active_months_ago(pool, member_id, 23)  # points go in about a month without activity

    _, schedule = await ledger.points_schedule(member_id)
    dormant_at = add_months(last_active.astimezone(UTC), 24)
    assert schedule.inactivity == Due(dormant_at, 50)
    assert schedule.expiring == (Due(terms(soon)[1], 200), Due(await term_of(pool, goodwill.entry), 50))

    await ExpiryJob(pool, programs).run_once(utc_now())
    reminders = await events_of(pool, member_id, events.PointsExpiring)
    announced = {(r.expires_at.ToDatetime(tzinfo=UTC), r.points) for r in reminders}  # type: ignore[attr-defined]
    assert announced == {(terms(soon)[1], 200), (dormant_at, 50)}

    nobody_rich = await enrolled(app)  # no points: nothing for the policy to take
    _, schedule = await ledger.points_schedule(nobody_rich)
    assert (schedule.expiring, schedule.pending, schedule.inactivity) == ((), (), None)


async def test_an_activity_moves_the_inactivity_date(pool: asyncpg.Pool) -> None:
    programs = ProgramApplication(pool)
    app, ledger = PointsApplication(pool, 2, programs), LedgerApplication(pool, programs)
    member_id = await enrolled(app)
    # Credited before any program was applied, so with no term: only the inactivity policy takes them.
    await ledger.adjust(member_id, 50, "goodwill", "agent-7", new_id("adj"))
    await programs.apply(TERM_AND_INACTIVITY)
    await active_months_ago(pool, member_id, 23)
    _, before = await ledger.points_schedule(member_id)
    bought_at = utc_now()
    purchase = await bought(app, member_id, 10, bought_at)
    _, after = await ledger.points_schedule(member_id)
    assert before.inactivity is not None and after.inactivity is not None
    assert before.inactivity.at < utc_now() + 32 * DAY
    # 24 months from the purchase now; its own points go by their 12-month term before that.
    assert after.inactivity == Due(add_months(bought_at, 24), 50)
    assert after.expiring == (Due(terms(purchase)[1], 20),)


@pytest.fixture
def points(channel: grpc.aio.Channel) -> points_pb2_grpc.PointsServiceStub:
    return points_pb2_grpc.PointsServiceStub(channel)


def purchase_request(member_id: str, whole_usd: int, occurred_at: datetime) -> pb.RecordPurchaseRequest:
    return pb.RecordPurchaseRequest(
        purchase_id=f"order-{uuid.uuid4().hex[:8]}",
        member_id=member_id,
        amount=MoneyMessage(amount_minor=whole_usd * 100, currency_code="USD"),
        occurred_at=timestamp(occurred_at),
    )


async def test_over_grpc_the_schedule_matches_what_each_purchase_answered_less_what_a_hold_keeps(
    points: points_pb2_grpc.PointsServiceStub,
    pool: asyncpg.Pool,
    points_address: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ProgramApplication(pool).apply(TERM_AND_PENDING)
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    now = utc_now()
    spendable = await points.RecordPurchase(purchase_request(member_id, 100, now - 20 * DAY))  # 200 points
    pending = await points.RecordPurchase(purchase_request(member_id, 30, now - DAY))  # 60 points, pending
    hold = pb.HoldPointsRequest(member_id=member_id, points=50, idempotency_key=new_id("h"), ttl=Duration(seconds=600))
    await points.HoldPoints(hold)

    schedule = await points.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id=member_id))
    assert schedule.member_id == member_id
    assert [(e.expires_at, e.points) for e in schedule.expiring] == [
        (spendable.expires_at, 150),
        (pending.expires_at, 60),
    ]
    assert [(p.available_at, p.points) for p in schedule.pending] == [(pending.available_at, 60)]
    assert not schedule.HasField("inactivity_expires_at") and schedule.inactivity_points == 0
    assert not (schedule.expiring_truncated or schedule.pending_truncated)

    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_address)
    assert await client._balance(argparse.Namespace(member_id=member_id)) == 0
    out = capsys.readouterr().out
    expires_on = spendable.expires_at.ToDatetime()
    assert f"150 points expire on {expires_on:%Y-%m-%d %H:%M} UTC; 60 more later" in out
    assert f"60 pending points become available on {pending.available_at.ToDatetime():%Y-%m-%d %H:%M} UTC" in out


@pytest.mark.parametrize("member_id", ["", "not a member id!", "x" * 65])
async def test_a_bad_member_id_is_invalid_argument_naming_it(
    points: points_pb2_grpc.PointsServiceStub, member_id: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id=member_id))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"member_id"}


async def test_an_unknown_member_is_not_found(points: points_pb2_grpc.PointsServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id="nobody-here"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "member_id" in (caught.value.details() or "")
