"""A partner's records over gRPC on real PostgreSQL, one by one: what one bad record does to its batch on
either path, and how an accrual's breakdown names the amounts its parts convert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import grpc
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from tests.integration.partner_support import (
    TODAY,
    admin,
    airline,
    auth,
    balance,
    enroll,
    flight,
    intake,
    set_rate,
)

__all__ = ["admin", "intake"]


async def test_a_nul_character_in_one_record_refuses_that_record_alone_on_both_paths(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    """One semantics on both paths: the unary call answers per record as the stream does, not the whole call."""
    partner_id, key = await airline(admin)
    member = await enroll(channel)

    def batch(path: str) -> pb.AccrualBatch:
        return pb.AccrualBatch(
            records=[
                flight(f"{path}-ok", member, "100"),
                flight(f"{path}-nul", member, "7", member_last_name="Ob\x00erg"),
            ]
        )

    async def one(batch: pb.AccrualBatch) -> AsyncIterator[pb.AccrualBatch]:
        yield batch

    submitted = await intake.SubmitAccruals(batch("unary"), metadata=auth(key))
    (streamed,) = [answer async for answer in intake.StreamAccruals(one(batch("stream")), metadata=auth(key))]
    for answer in (submitted, streamed):
        assert [(r.status, r.points, r.field) for r in answer.results] == [
            (pb.ACCRUAL_STATUS_ACCEPTED, 100, ""),
            (pb.ACCRUAL_STATUS_INVALID, 0, "member_last_name"),
        ]
    assert (await balance(channel, member)).balance == 200
    report = await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY))
    lines = {(line.status, line.unit): (line.records, line.amount) for line in report.lines}
    assert lines == {(pb.ACCRUAL_STATUS_ACCEPTED, "MILE"): (2, "200"), (pb.ACCRUAL_STATUS_INVALID, "MILE"): (2, "14")}


async def test_a_partner_bonus_splits_the_breakdown_each_part_with_the_amount_it_converts(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    """The base part names the amount its points cover, not the whole amount: the bonus part has the rest."""
    partner_id, key = await airline(admin, rate="2.5")
    member = await enroll(channel)
    batch = pb.AccrualBatch(
        records=[flight("split", member, "506.05", bonus_amount="126.51"), flight("whole", member, "10")]
    )
    await intake.SubmitAccruals(batch, metadata=auth(key))
    points = points_pb2_grpc.PointsServiceStub(channel)
    listed = await points.ListLedgerEntries(points_pb2.ListLedgerEntriesRequest(member_id=member))
    breakdowns = {e.idempotency_key: [(c.source, c.points, c.description) for c in e.breakdown] for e in listed.entries}
    assert breakdowns[f"partner:{partner_id}:split"] == [
        (f"partner:{partner_id}", 948, f"flight on {TODAY}: 379.54 MILE"),  # 379.54 x 2.5 = 948.85, rounded down
        (f"partner_bonus:{partner_id}", 316, "partner bonus: 126.51 MILE"),
    ]
    assert breakdowns[f"partner:{partner_id}:whole"] == [(f"partner:{partner_id}", 25, f"flight on {TODAY}: 10 MILE")]


async def test_an_amount_finer_than_its_currency_is_invalid_and_other_units_keep_four_decimals(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    """Half a yen was never paid: a partner amount in a currency is held to its minor unit, as a purchase is."""
    partner_id, key = await airline(admin)
    for currency in ("JPY", "USD"):
        await set_rate(admin, partner_id, currency, "2", date(2020, 1, 1))
    member = await enroll(channel)
    batch = pb.AccrualBatch(
        records=[
            flight("yen", member, "0.5", unit="JPY"),
            flight("dollar", member, "1.0001", unit="USD"),
            flight("cents", member, "1.25", unit="USD"),
            flight("miles", member, "1.0001"),
        ]
    )

    answer = await intake.SubmitAccruals(batch, metadata=auth(key))

    assert [(r.status, r.points, r.field, r.reason) for r in answer.results] == [
        (pb.ACCRUAL_STATUS_INVALID, 0, "amount", "0.5 has more decimals than JPY allows"),
        (pb.ACCRUAL_STATUS_INVALID, 0, "amount", "1.0001 has more decimals than USD allows"),
        (pb.ACCRUAL_STATUS_ACCEPTED, 2, "", ""),
        (pb.ACCRUAL_STATUS_ACCEPTED, 1, "", ""),
    ]
    assert (await balance(channel, member)).balance == 3
