"""Partner accrual over gRPC on real PostgreSQL: administration, keys, per-record answers, idempotency, totals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from loyalty.events.v1 import points_pb2 as events
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from services.common.events import decode
from services.points.program_application import ProgramApplication
from tests.integration.partner_support import (
    TIERED,
    TODAY,
    admin,
    airline,
    auth,
    balance,
    enroll,
    flight,
    intake,
    revoke_key,
)
from tests.integration.points_ledger_support import entries_written, events_of, new_id
from tests.integration.support import field_violations
from tests.integration.test_points_ledger import outbox_events

__all__ = ["admin", "intake"]


async def test_a_client_that_waits_for_each_answer_before_sending_on_is_answered(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    """Request and answer in turn on one stream: the server must not wait for a second batch to answer the first."""
    _, key = await airline(admin)
    member = await enroll(channel)
    answered: asyncio.Queue[None] = asyncio.Queue()

    async def batches() -> AsyncIterator[pb.AccrualBatch]:
        for turn in range(3):
            yield pb.AccrualBatch(records=[flight(f"turn-{turn}", member, "100")])
            await answered.get()

    statuses = []
    async with asyncio.timeout(30):
        async for answer in intake.StreamAccruals(batches(), metadata=auth(key)):
            statuses.append([r.status for r in answer.results])
            answered.put_nowait(None)
    assert statuses == [[pb.ACCRUAL_STATUS_ACCEPTED]] * 3


async def test_a_revoked_key_takes_no_further_batch_on_a_stream_it_opened(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    partner_id, key = await airline(admin)
    member = await enroll(channel)
    answered: asyncio.Queue[None] = asyncio.Queue()

    async def batches() -> AsyncIterator[pb.AccrualBatch]:
        yield pb.AccrualBatch(records=[flight("before-revoke", member, "100")])
        await answered.get()
        await revoke_key(admin, pool, partner_id)
        yield pb.AccrualBatch(records=[flight("after-revoke", member, "100")])

    answers = []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async with asyncio.timeout(30):
            async for answer in intake.StreamAccruals(batches(), metadata=auth(key)):
                answers.append([r.status for r in answer.results])
                answered.put_nowait(None)
    assert answers == [[pb.ACCRUAL_STATUS_ACCEPTED]]
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await balance(channel, member)).balance == 100


async def test_a_revoke_does_not_wait_for_busy_streams_and_ends_them(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    partner_id, key = await airline(admin)
    members = [await enroll(channel) for _ in range(4)]
    answered = asyncio.Event()

    async def stream(number: int) -> grpc.StatusCode:
        unanswered = asyncio.Semaphore(2)  # the next batch goes out before the one before is answered

        async def batches() -> AsyncIterator[pb.AccrualBatch]:
            for batch in range(200):  # more than the streams send before the revoke
                await unanswered.acquire()
                yield pb.AccrualBatch(
                    records=[flight(f"s{number}-{batch}-{i}", members[number], "1") for i in range(200)]
                )

        try:
            async for _ in intake.StreamAccruals(batches(), metadata=auth(key)):
                answered.set()
                unanswered.release()
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    streams = [asyncio.create_task(stream(number)) for number in range(4)]
    await answered.wait()
    # Before, each batch share-locked the key row, and busy streams kept the revoke waiting until it timed out.
    await revoke_key(admin, pool, partner_id, deadline_s=3)
    credited = await pool.fetchval("SELECT count(*) FROM partner_accruals WHERE partner_id = $1", partner_id)
    # A client still writing when the server ends the stream reads INTERNAL, not the status sent (grpc/grpc#36066).
    assert set(await asyncio.gather(*streams)) <= {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL}
    # At most the batch each stream had past the key check when the revoke committed.
    after = await pool.fetchval("SELECT count(*) FROM partner_accruals WHERE partner_id = $1", partner_id)
    assert after - credited <= 4 * 200


async def test_a_stream_answers_the_batches_before_a_bad_one_then_ends_with_its_error(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    _, key = await airline(admin)
    member = await enroll(channel)

    async def batches() -> AsyncIterator[pb.AccrualBatch]:
        yield pb.AccrualBatch(records=[flight("before", member, "100")])
        yield pb.AccrualBatch()  # no records
        yield pb.AccrualBatch(records=[flight("after", member, "100")])

    answers = []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for answer in intake.StreamAccruals(batches(), metadata=auth(key)):
            answers.append([(r.partner_transaction_id, r.status) for r in answer.results])
    assert answers == [[("before", pb.ACCRUAL_STATUS_ACCEPTED)]]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(refused.value)) == ["records"]
    # The batch after the bad one may have been read, but its answer never went out: it credits nothing.
    assert (await balance(channel, member)).balance == 100


async def test_a_stream_answers_the_batches_before_bytes_that_are_no_batch_then_ends_invalid_argument(
    channel: grpc.aio.Channel, admin: partners_pb2_grpc.PartnerServiceStub
) -> None:
    _, key = await airline(admin)
    member = await enroll(channel)
    stream = channel.stream_stream(
        "/loyalty.points.v1.PartnerAccrualService/StreamAccruals",
        response_deserializer=pb.AccrualBatchResult.FromString,
    )  # no request serializer: the bytes go out as they are

    async def batches() -> AsyncIterator[bytes]:
        yield pb.AccrualBatch(records=[flight("before", member, "100")]).SerializeToString()
        yield b"\xff\xff\xff"

    answers = []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for answer in stream(batches(), metadata=auth(key)):
            answers.append([(r.partner_transaction_id, r.status) for r in answer.results])
    assert answers == [[("before", pb.ACCRUAL_STATUS_ACCEPTED)]]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value)["request"].startswith("is not a valid loyalty.points.v1.AccrualBatch")


async def test_a_stream_answers_every_record_and_a_resend_credits_nothing_twice(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    partner_id, key = await airline(admin)
    member = await enroll(channel)
    first = pb.AccrualBatch(
        records=[
            flight("t1", member, "1000", member_last_name="SMITH"),
            flight("t2", "nobody", "500"),
            flight("t3", member, "700", member_last_name="Smyth"),
            flight("t4", member, "12", activity_date="not a date"),
            pb.AccrualRecord(
                partner_transaction_id="t5",
                member_id=member,
                activity_type=pb.ACTIVITY_TYPE_STAY,
                activity_date=TODAY,
                unit="NIGHT",
                amount="2",
            ),
            flight("t6", member, "300", bonus_amount="100"),
        ]
    )
    second = pb.AccrualBatch(records=[flight("t1", member, "1000"), flight("t7", member, "50")])

    async def batches() -> AsyncIterator[pb.AccrualBatch]:
        for batch in (first, second, first):
            yield batch

    answers = [answer async for answer in intake.StreamAccruals(batches(), metadata=auth(key))]
    statuses = [[(r.partner_transaction_id, r.status, r.points, r.field) for r in a.results] for a in answers]
    assert statuses[0] == [
        ("t1", pb.ACCRUAL_STATUS_ACCEPTED, 1000, ""),
        ("t2", pb.ACCRUAL_STATUS_UNKNOWN_MEMBER, 0, ""),
        ("t3", pb.ACCRUAL_STATUS_NAME_MISMATCH, 0, ""),
        ("t4", pb.ACCRUAL_STATUS_INVALID, 0, "activity_date"),
        ("t5", pb.ACCRUAL_STATUS_RATE_MISSING, 0, ""),
        ("t6", pb.ACCRUAL_STATUS_ACCEPTED, 300, ""),
    ]
    assert statuses[1] == [("t1", pb.ACCRUAL_STATUS_DUPLICATE, 1000, ""), ("t7", pb.ACCRUAL_STATUS_ACCEPTED, 50, "")]
    assert statuses[2][0][1] == pb.ACCRUAL_STATUS_DUPLICATE
    assert (await balance(channel, member)).balance == 1350

    report = await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day=TODAY))
    lines = {(line.status, line.unit): (line.records, line.amount, line.points) for line in report.lines}
    assert lines[pb.ACCRUAL_STATUS_ACCEPTED, "MILE"] == (3, "1350", 1350)
    assert lines[pb.ACCRUAL_STATUS_DUPLICATE, "MILE"] == (3, "2300", 2300)  # t1 twice, t6 once
    assert lines[pb.ACCRUAL_STATUS_UNKNOWN_MEMBER, "MILE"][0] == 2
    assert lines[pb.ACCRUAL_STATUS_INVALID, "MILE"] == (2, "24", 0)
    # Each unit reconciles on its own: the nights are not added to the miles.
    assert lines[pb.ACCRUAL_STATUS_RATE_MISSING, "NIGHT"] == (2, "4", 0)


async def test_keys_authenticate_only_their_partner_and_revoked_keys_nothing(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    partner_id, key = await airline(admin)
    member = await enroll(channel)
    batch = pb.AccrualBatch(records=[flight(new_id("t"), member)])
    for metadata in ((), auth("lpk_made-up"), (("authorization", key),)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.SubmitAccruals(batch, metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await pool.fetchval("SELECT count(*) FROM partner_accrual_results") == 0
    # Only a hash of the key is stored.
    assert key.encode() not in [r["key_hash"] for r in await pool.fetch("SELECT key_hash FROM partner_credentials")]

    await revoke_key(admin, pool, partner_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await intake.SubmitAccruals(batch, metadata=auth(key))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_accruals_earn_like_purchases_pending_expiring_and_moving_tiers(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)
    partner_id, key = await airline(admin)
    member = await enroll(channel)
    points = points_pb2_grpc.PointsServiceStub(channel)
    entries_counted = entries_written("partner_earn")
    # A flight of last year, sent only now: its points are the member's, but count for last year's tier.
    last_year = f"{datetime.now(UTC).year - 1}-12-31"
    await intake.SubmitAccruals(
        pb.AccrualBatch(records=[flight("z", member, "5000", activity_date=last_year)]), metadata=auth(key)
    )
    assert (await points.GetMember(points_pb2.GetMemberRequest(member_id=member))).member.tier == "blue"
    batch = pb.AccrualBatch(records=[flight("a", member, "3000"), flight("b", member, "2500", pending=True)])
    await intake.SubmitAccruals(batch, metadata=auth(key))
    state = await balance(channel, member)
    assert (state.balance, state.available, state.pending) == (10500, 8000, 2500)
    assert (await points.GetMember(points_pb2.GetMemberRequest(member_id=member))).member.tier == "gold"
    lots = await pool.fetch("SELECT earned_at, expires_at FROM lots WHERE member_id = $1", member)
    assert all(lot["expires_at"] - lot["earned_at"] > timedelta(days=700) for lot in lots)
    entries = await points.ListLedgerEntries(points_pb2.ListLedgerEntriesRequest(member_id=member))
    assert {e.kind for e in entries.entries} == {points_pb2.ENTRY_KIND_PARTNER_EARN}
    earned = [e for e in await outbox_events(pool, member) if e.type == "loyalty.events.v1.PointsEarned"]
    # Readers of the topic (insights) learn the partner without parsing the reason.
    assert [decode(e.SerializeToString(), [])[1].partner_id for e in earned] == [partner_id] * 3  # type: ignore[attr-defined]
    assert entries_written("partner_earn") - entries_counted == 3  # the metric an operator watches


async def test_concurrent_resends_of_one_batch_credit_it_once(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    _, key = await airline(admin)
    members = [await enroll(channel) for _ in range(5)]
    batch = pb.AccrualBatch(records=[flight(f"c{i}", members[i % 5], "100") for i in range(200)])
    answers = await asyncio.gather(*(intake.SubmitAccruals(batch, metadata=auth(key)) for _ in range(6)))
    accepted = sum(r.status == pb.ACCRUAL_STATUS_ACCEPTED for a in answers for r in a.results)
    assert accepted == 200
    assert [(await balance(channel, m)).balance for m in members] == [4000] * 5


async def test_bad_administration_names_the_field(admin: partners_pb2_grpc.PartnerServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.RegisterPartner(pb.RegisterPartnerRequest(partner_id="Bad Id", name=""))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(refused.value)) == {"partner_id", "name", "kind"}
    partner_id, _ = await airline(admin)
    bad_rate = pb.ConversionRate(unit="miles", points_per_unit="-1")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=bad_rate))
    assert set(field_violations(refused.value)) == {"rate.unit", "rate.points_per_unit", "rate.effective_from"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.GetReconciliation(pb.GetReconciliationRequest(partner_id=partner_id, day="yesterday"))
    assert set(field_violations(refused.value)) == {"day"}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.IssuePartnerCredential(pb.IssuePartnerCredentialRequest(partner_id="no-such-partner"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_empty_or_oversized_batch_is_invalid(
    admin: partners_pb2_grpc.PartnerServiceStub, intake: partners_pb2_grpc.PartnerAccrualServiceStub
) -> None:
    _, key = await airline(admin)
    for batch in (pb.AccrualBatch(), pb.AccrualBatch(records=[flight(f"x{i}", "m") for i in range(5001)])):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await intake.SubmitAccruals(batch, metadata=auth(key))
        assert set(field_violations(refused.value)) == {"records"}


async def test_batches_of_a_stream_are_written_in_the_order_sent(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    """A batch sent twice in a row is accepted the first time and a duplicate the second, on every stream."""
    _, key = await airline(admin)
    members = [await enroll(channel) for _ in range(4)]

    async def twice(stream: int) -> list[list[int]]:
        batch = pb.AccrualBatch(records=[flight(f"s{stream}-{m}", m, "100") for m in members])

        async def batches() -> AsyncIterator[pb.AccrualBatch]:
            for _ in range(2):
                yield batch

        answers = [answer async for answer in intake.StreamAccruals(batches(), metadata=auth(key))]
        return [[r.status for r in answer.results] for answer in answers]

    # Concurrent streams on the same members, so the second copy of a batch would often reach
    # the database first if the stream did not keep its order.
    outcomes = await asyncio.gather(*(twice(stream) for stream in range(24)))
    accepted, duplicate = [pb.ACCRUAL_STATUS_ACCEPTED] * 4, [pb.ACCRUAL_STATUS_DUPLICATE] * 4
    assert outcomes == [[accepted, duplicate]] * 24
    assert [(await balance(channel, m)).balance for m in members] == [2400] * 4


async def test_an_accrual_reported_after_its_points_term_expires_as_it_is_credited(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    await ProgramApplication(pool).apply(TIERED)  # points expire 24 months after earning
    _, key = await airline(admin)
    member = await enroll(channel)
    old_flight = flight("old", member, "500", activity_date=f"{datetime.now(UTC).year - 3}-06-01")
    answer = await intake.SubmitAccruals(
        pb.AccrualBatch(records=[old_flight, flight("new", member, "100")]), metadata=auth(key)
    )
    assert [(r.status, r.points) for r in answer.results] == [(pb.ACCRUAL_STATUS_ACCEPTED, p) for p in (500, 100)]
    # No expiry job has run: the expired 500 were never part of the balance.
    state = await balance(channel, member)
    assert (state.balance, state.available, state.pending, state.held) == (100, 100, 0, 0)
    expired = await events_of(pool, member, events.PointsExpired)
    assert [e.points for e in expired] == [500]  # type: ignore[attr-defined]
