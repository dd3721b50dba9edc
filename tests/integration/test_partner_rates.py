"""A partner unit's conversion rates on real PostgreSQL: each takes effect after the last, so what a date converts
at never changes once records were converted at it, even when two rates are set at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import asyncpg
import grpc
import pytest
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc

from services.common.errors import FailedPrecondition
from services.points.partner_accrual import Rate
from services.points.partner_application import PartnerApplication
from services.points.program import Rounding
from tests.integration.partner_support import admin, airline, auth, enroll, flight, intake, set_rate
from tests.integration.support import eventually

# Fixtures used by name.
__all__ = ["admin", "intake"]

ACTIVITY = datetime.now(UTC).date() - timedelta(days=20)


async def test_a_rate_back_dated_under_a_later_one_is_refused_and_dates_keep_converting_at_their_rate(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
) -> None:
    partner_id, key = await airline(admin)
    await set_rate(admin, partner_id, "KM", "4", ACTIVITY - timedelta(days=5))
    await set_rate(admin, partner_id, "KM", "5", ACTIVITY + timedelta(days=5))
    member = await enroll(channel)
    first = await intake.SubmitAccruals(
        pb.AccrualBatch(records=[flight("km-1", member, "10", unit="KM", activity_date=ACTIVITY.isoformat())]),
        metadata=auth(key),
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await set_rate(admin, partner_id, "KM", "7", ACTIVITY - timedelta(days=2))

    latest = datetime.combine(ACTIVITY + timedelta(days=5), time(), tzinfo=UTC)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == (
        f"rate.effective_from: must be after {latest.isoformat()}, when the latest KM rate of partner"
        f" {partner_id!r} takes effect: rates are never rewritten"
    )
    second = await intake.SubmitAccruals(
        pb.AccrualBatch(records=[flight("km-2", member, "10", unit="KM", activity_date=ACTIVITY.isoformat())]),
        metadata=auth(key),
    )
    assert [r.points for r in (*first.results, *second.results)] == [40, 40]


async def test_a_later_rate_and_an_earlier_one_of_another_unit_are_taken(
    admin: partners_pb2_grpc.PartnerServiceStub,
) -> None:
    partner_id, _ = await airline(admin)
    await set_rate(admin, partner_id, "KM", "4", ACTIVITY)
    await set_rate(admin, partner_id, "KM", "7", ACTIVITY + timedelta(days=1))
    answer = await set_rate(admin, partner_id, "NIGHT", "500", date(2000, 1, 1))
    assert sorted((r.unit, r.points_per_unit) for r in answer.partner.rates) == [
        ("KM", "4"),
        ("KM", "7"),
        ("MILE", "1"),
        ("NIGHT", "500"),
    ]


async def test_a_rate_back_dated_while_a_later_one_is_being_set_waits_for_it_and_is_refused(
    pool: asyncpg.Pool, admin: partners_pb2_grpc.PartnerServiceStub
) -> None:
    """Each of two rates set at once reads the unit's rates before the other is written: unserialised, both would
    be taken, the earlier one last."""
    partner_id, _ = await airline(admin)
    later = datetime.combine(ACTIVITY, time(), tzinfo=UTC)
    async with pool.acquire() as writer, writer.transaction():
        # What setting the later rate does on the partner until it commits: it writes the partner's rates.
        await writer.execute("UPDATE partners SET name = name WHERE partner_id = $1", partner_id)
        await writer.execute(
            """INSERT INTO partner_rates (partner_id, unit, points_per_unit, rounding, effective_from)
               VALUES ($1, 'MILE', 2, 'down', $2)""",
            partner_id,
            later,
        )
        earlier = Rate("MILE", Decimal(3), Rounding.DOWN, later - timedelta(days=1))
        setting = asyncio.create_task(PartnerApplication(pool).set_rate(partner_id, earlier))
        writer_pid = await writer.fetchval("SELECT pg_backend_pid()")
        await eventually(lambda: _done_or_waiting_for(setting, pool, writer_pid), what="the rate set or waiting")
    with pytest.raises(FailedPrecondition):
        await setting
    rates = await pool.fetch("SELECT effective_from FROM partner_rates WHERE partner_id = $1", partner_id)
    assert len(rates) == 2


async def _done_or_waiting_for(setting: asyncio.Task[object], pool: asyncpg.Pool, writer_pid: int) -> bool:
    # Read outside the writer's transaction, which keeps the first pg_stat_activity it read.
    if setting.done():
        return True
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", writer_pid
    )
    return bool(waiting)
