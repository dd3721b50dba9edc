"""A partner cancelling an accrual it sent: pending points voided, spent ones owed, tiers no longer counting them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.events.v1 import points_pb2 as events
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from tests.integration.partner_support import (
    TIERED,
    admin,
    airline,
    auth,
    balance,
    enroll,
    flight,
    intake,
)
from tests.integration.points_ledger_support import assert_balanced, books, events_of
from tests.integration.support import field_violations

__all__ = ["admin", "intake"]


def cancel(tx: str, reason: str = "flight cancelled") -> pb.CancelAccrualRequest:
    return pb.CancelAccrualRequest(partner_transaction_id=tx, reason=reason)


async def test_cancelling_a_pending_accrual_voids_its_points_once(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)  # 14 pending days
    partner_id, key = await airline(admin)
    member = await enroll(channel)
    batch = pb.AccrualBatch(records=[flight("kept", member, "300"), flight("gone", member, "700", pending=True)])
    await intake.SubmitAccruals(batch, metadata=auth(key))

    cancelled = await intake.CancelAccrual(cancel("gone"), metadata=auth(key))
    assert (cancelled.member_id, cancelled.points_reversed, cancelled.points_taken, cancelled.duplicate) == (
        member,
        700,
        700,
        False,
    )
    state = await balance(channel, member)
    assert (state.balance, state.available, state.pending) == (300, 300, 0)
    again = await intake.CancelAccrual(cancel("gone", "sent twice"), metadata=auth(key))
    assert (again.duplicate, again.ledger_entry_id, again.points_taken) == (True, cancelled.ledger_entry_id, 700)
    assert (await balance(channel, member)).balance == 300

    entries = await points_pb2_grpc.PointsServiceStub(channel).ListLedgerEntries(
        points_pb2.ListLedgerEntriesRequest(member_id=member)
    )
    cancel_entries = [e for e in entries.entries if e.kind == points_pb2.ENTRY_KIND_PARTNER_CANCEL]
    assert [(e.points, e.entry_id) for e in cancel_entries] == [(-700, cancelled.ledger_entry_id)]
    reversed_events = await events_of(pool, member, events.PointsReversed)
    assert [(e.partner_id, e.partner_transaction_id, e.points_taken) for e in reversed_events] == [  # type: ignore[attr-defined]
        (partner_id, "gone", 700)
    ]


async def test_spent_points_of_a_cancelled_accrual_are_owed_and_stop_counting_for_tiers(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)  # gold at 5000 points earned in the calendar year; debt policy
    _, key = await airline(admin)
    member = await enroll(channel)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("long-haul", member, "6000")]), metadata=auth(key))
    points = points_pb2_grpc.PointsServiceStub(channel)
    hold = await points.HoldPoints(
        points_pb2.HoldPointsRequest(member_id=member, points=5500, idempotency_key="spend", ttl=Duration(seconds=600))
    )
    await points.CaptureHold(points_pb2.CaptureHoldRequest(hold_id=hold.hold.hold_id))

    cancelled = await intake.CancelAccrual(cancel("long-haul"), metadata=auth(key))
    assert (cancelled.points_reversed, cancelled.points_taken, cancelled.points_owed) == (6000, 500, 5500)
    state = await balance(channel, member)
    assert (state.balance, state.available) == (0, 0)
    member_view = (await points.GetMember(points_pb2.GetMemberRequest(member_id=member))).member
    # Reached at once, kept until requalification; but the cancelled flight no longer counts.
    assert (member_view.tier, member_view.tier_progress.qualifying_value) == ("gold", "0")


async def test_cancellations_are_refused_naming_the_field_or_the_missing_accrual(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    _, key = await airline(admin)
    _, other_key = await airline(admin)
    member = await enroll(channel)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("mine", member)]), metadata=auth(key))
    refusals = [
        (cancel("mine", reason=" "), key, grpc.StatusCode.INVALID_ARGUMENT),
        (cancel("", reason=""), key, grpc.StatusCode.INVALID_ARGUMENT),
        (cancel("never-sent"), key, grpc.StatusCode.NOT_FOUND),
        (cancel("mine"), other_key, grpc.StatusCode.NOT_FOUND),  # another partner's transaction
        (cancel("mine"), "lpk_not_a_key", grpc.StatusCode.UNAUTHENTICATED),
    ]
    for request, used_key, code in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.CancelAccrual(request, metadata=auth(used_key))
        assert refused.value.code() == code
    with pytest.raises(grpc.aio.AioRpcError) as both:
        await intake.CancelAccrual(cancel("", reason=""), metadata=auth(key))
    assert set(field_violations(both.value)) == {"partner_transaction_id", "reason"}
    assert (await balance(channel, member)).balance == 1000


async def test_under_negative_balance_later_accruals_cover_a_cancellation_that_overdrew(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED + "refunds: {spent_points: negative_balance}\n")
    _, key = await airline(admin)
    member = await enroll(channel)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("first", member, "1000")]), metadata=auth(key))
    ledger = LedgerApplication(pool)
    hold = await ledger.hold(member, 800, "spend", timedelta(minutes=10), "")
    await ledger.capture(str(hold.hold.hold_id))

    cancelled = await intake.CancelAccrual(cancel("first"), metadata=auth(key))
    assert (cancelled.points_taken, cancelled.points_overdrawn, cancelled.points_owed) == (1000, 800, 0)
    state = await books(pool, ledger, member)
    assert (state.entries_sum, state.available) == (-800, -800)
    assert_balanced(state)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("second", member, "1000")]), metadata=auth(key))
    state = await books(pool, ledger, member)
    assert (state.entries_sum, state.available, state.overdrawn) == (200, 200, 0)
    assert_balanced(state)


async def test_points_backing_an_open_hold_past_their_expiry_are_left_to_the_hold(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)
    _, key = await airline(admin)
    member = await enroll(channel)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("a", member, "1000")]), metadata=auth(key))
    ledger = LedgerApplication(pool)
    hold = await ledger.hold(member, 1000, "redeem", timedelta(minutes=10), "")
    # The accrual's points expire while the hold that reserved them is open: they are the hold's.
    await pool.execute(
        """UPDATE lots SET expires_at = (SELECT created_at FROM holds WHERE member_id = $1) + interval '1 millisecond'
            WHERE member_id = $1""",
        member,
    )
    await asyncio.sleep(0.01)

    cancelled = await intake.CancelAccrual(cancel("a"), metadata=auth(key))
    assert (cancelled.points_taken, cancelled.points_owed, cancelled.points_expired) == (0, 1000, 0)
    assert_balanced(await books(pool, ledger, member))
    await ledger.capture(str(hold.hold.hold_id))
    state = await books(pool, ledger, member)
    assert (state.entries_sum, state.held) == (0, 0)
    assert_balanced(state)


async def test_points_past_their_expiry_the_job_has_not_reached_are_expired_not_taken(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)
    _, key = await airline(admin)
    member = await enroll(channel)
    await intake.SubmitAccruals(pb.AccrualBatch(records=[flight("a", member, "1000")]), metadata=auth(key))
    await pool.execute("UPDATE lots SET expires_at = now() - interval '1 second' WHERE member_id = $1", member)

    cancelled = await intake.CancelAccrual(cancel("a"), metadata=auth(key))
    assert (cancelled.points_taken, cancelled.points_owed, cancelled.points_expired) == (0, 0, 1000)
    assert [e.points for e in await events_of(pool, member, events.PointsExpired)] == [1000]  # type: ignore[attr-defined]
    assert_balanced(await books(pool, LedgerApplication(pool), member))
