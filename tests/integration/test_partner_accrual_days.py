"""Partner accruals and the program's days: an activity date is a day of the program's time zone; and a record's
answer does not depend on a concurrent batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
import grpc
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from services.points.accrual_application import AccrualApplication
from services.points.application import PointsApplication
from services.points.domain import Enrollment
from services.points.partner_accrual import RawRecord, Status
from services.points.program_application import ProgramApplication
from tests.integration.partner_support import TIERED, admin, airline, auth, flight, intake
from tests.integration.points_ledger_support import new_id
from tests.integration.test_partner_accrual_consumer import hotel

__all__ = ["admin", "intake"]

NEW_YORK = TIERED + "timezone: America/New_York\n"


async def credited_in_new_york(
    pool: asyncpg.Pool,
    channel: grpc.aio.Channel,
    partner: tuple[partners_pb2_grpc.PartnerServiceStub, partners_pb2_grpc.PartnerAccrualServiceStub],
    miles: str,
    activity_date: str,
) -> str:
    """A member of the New York program, credited a flight of `miles` on `activity_date` by an airline."""
    admin, intake = partner
    await ProgramApplication(pool).apply(NEW_YORK)
    member = new_id("m")
    points = points_pb2_grpc.PointsServiceStub(channel)
    await points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member, family_name="Smith"))
    _, key = await airline(admin)
    batch = pb.AccrualBatch(records=[flight(new_id("t"), member, miles, activity_date=activity_date)])
    answer = await intake.SubmitAccruals(batch, metadata=auth(key))
    assert [(r.status, r.points) for r in answer.results] == [(pb.ACCRUAL_STATUS_ACCEPTED, int(miles))]
    return member


async def test_a_flight_on_new_years_day_counts_in_that_years_tier_window(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    """Read as 00:00 UTC, 1 January would be 31 December, 19:00 in New York: last year's window."""
    new_years_day = f"{datetime.now(ZoneInfo('America/New_York')).year}-01-01"
    member = await credited_in_new_york(pool, channel, (admin, intake), "5000", new_years_day)
    found = await points_pb2_grpc.PointsServiceStub(channel).GetMember(points_pb2.GetMemberRequest(member_id=member))
    assert found.member.tier == "gold"


async def test_expiry_counts_from_the_activity_date_in_the_programs_time_zone(
    channel: grpc.aio.Channel,
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
) -> None:
    year = datetime.now(UTC).year - 1
    member = await credited_in_new_york(pool, channel, (admin, intake), "100", f"{year}-03-01")
    expires_at = await pool.fetchval("SELECT expires_at FROM lots WHERE member_id = $1", member)
    assert expires_at == datetime(year + 2, 3, 1, tzinfo=ZoneInfo("America/New_York"))  # 24 months, not a day less


async def test_a_batch_racing_another_for_a_transaction_id_answers_as_its_resend_does(
    pool: asyncpg.Pool, app: PointsApplication
) -> None:
    """A resend answers a record that does not parse INVALID, and every other record of an id accepted before
    DUPLICATE: so must the batch that lost the id to a concurrent one."""
    partner_id, _ = await hotel(pool)
    mine, other = [(await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id for _ in range(2)]
    accruals = AccrualApplication(pool, ProgramApplication(pool))
    today = datetime.now(UTC).date().isoformat()
    batch = [
        RawRecord("race-1", mine, "", "stay", "not a date", "USD", "10", "", False),
        RawRecord("race-1", "nobody-enrolled", "", "stay", today, "USD", "10", "", False),
        RawRecord("race-1", mine, "", "stay", today, "USD", "10", "", False),
    ]
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            """INSERT INTO partner_accruals (partner_id, partner_transaction_id, member_id, points)
               VALUES ($1, 'race-1', $2, 0)""",
            partner_id,
            other,
        )
        racing = asyncio.create_task(accruals.ingest(partner_id, batch))
        await asyncio.sleep(1)  # the batch now waits on this uncommitted row of race-1
    raced = [d.status for d in await racing]
    resent = [d.status for d in await accruals.ingest(partner_id, batch)]
    assert resent == [Status.INVALID, Status.DUPLICATE, Status.DUPLICATE]
    assert raced == resent
