"""Values a partner's feed or an admin sends that are valid though unusual, and invalid ones that were taken:
fixed-width amounts padded with zeros, the last day a date can name, a rounding no client knows, and what a
repayment says when a hold gives points back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from services.common.events import timestamp
from services.points.domain import utc_now
from tests.integration.partner_support import admin, airline, auth, enroll, flight, intake
from tests.integration.support import field_violations

# Fixtures used by name.
__all__ = ["admin", "intake"]


async def test_amounts_and_rates_padded_with_zeros_are_read_as_their_value(
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    channel: grpc.aio.Channel,
) -> None:
    _, key = await airline(admin, rate="00000002")
    member_id = await enroll(channel)
    records = [
        flight(f"tx-{uuid.uuid4().hex[:8]}", member_id, miles) for miles in ("00000000000001", "000000000000125.5000")
    ]
    answered = await intake.SubmitAccruals(pb.AccrualBatch(records=records), metadata=auth(key))
    assert [(r.status, r.points) for r in answered.results] == [
        (pb.ACCRUAL_STATUS_ACCEPTED, 2),
        (pb.ACCRUAL_STATUS_ACCEPTED, 251),
    ]


async def test_the_reconciliation_of_the_last_day_a_date_can_name_is_empty(
    admin: partners_pb2_grpc.PartnerServiceStub,
) -> None:
    partner_id, _ = await airline(admin)
    report = await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day="9999-12-31"))
    assert list(report.lines) == []


async def test_a_rounding_no_version_of_the_contract_has_is_refused(
    admin: partners_pb2_grpc.PartnerServiceStub, pool: asyncpg.Pool
) -> None:
    partner_id, _ = await airline(admin)
    rate = pb.ConversionRate(unit="USD", points_per_unit="10", effective_from=timestamp(utc_now()), rounding=99)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rate.rounding" in field_violations(refused.value)
    assert await pool.fetchval("SELECT count(*) FROM partner_rates WHERE partner_id = $1", partner_id) == 1


async def test_a_partner_id_not_starting_with_a_letter_or_digit_is_refused_saying_so(
    admin: partners_pb2_grpc.PartnerServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.RegisterPartner(pb.RegisterPartnerRequest(partner_id="_x", name="X", kind=pb.PARTNER_KIND_AIRLINE))
    assert "starting with a letter or digit" in field_violations(refused.value)["partner_id"]


async def test_a_repayment_from_points_a_hold_gave_back_says_so(
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    channel: grpc.aio.Channel,
    pool: asyncpg.Pool,
) -> None:
    _, key = await airline(admin)
    member_id = await enroll(channel)
    first, second = f"tx-{uuid.uuid4().hex[:8]}", f"tx-{uuid.uuid4().hex[:8]}"
    batch = pb.AccrualBatch(records=[flight(first, member_id, "100"), flight(second, member_id, "30")])
    await intake.SubmitAccruals(batch, metadata=auth(key))
    points = points_pb2_grpc.PointsServiceStub(channel)
    held = await points.HoldPoints(
        points_pb2.HoldPointsRequest(
            member_id=member_id,
            points=110,
            idempotency_key="h-1",
            ttl=Duration(seconds=int(timedelta(hours=1).total_seconds())),
        )
    )
    # The hold keeps 80 of the first accrual's points from its cancellation, which takes 20 and leaves 80 owed.
    await intake.CancelAccrual(
        pb.CancelAccrualRequest(partner_transaction_id=first, reason="flight cancelled"), metadata=auth(key)
    )
    await points.ReleaseHold(points_pb2.ReleaseHoldRequest(hold_id=held.hold.hold_id))

    descriptions = await pool.fetch(
        "SELECT description FROM ledger_entries WHERE member_id = $1 AND kind = 'debt_repayment'", member_id
    )
    assert [r["description"] for r in descriptions] == [
        "repays points owed after a refund, from points of the reversed credit, freed by a hold"
    ]
    assert (await points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id))).available == 30
