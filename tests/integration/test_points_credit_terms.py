"""Points credited by hand expire like any points earned when they were credited: a positive AdjustPoints and a
goodwill credit get the fixed term (expiry.months_after_earning) of the program in force, counted from the credit;
without a program, or a program without a term, they never expire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
from loyalty.events.v1 import tickets_pb2 as ticket_events
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.points.application import PointsApplication
from services.points.domain import Enrollment
from services.points.goodwill import credit_goodwill
from services.points.program import add_months
from services.points.program_application import ProgramApplication
from tests.integration.points_ledger_support import new_id
from tests.integration.test_tickets_goodwill_points import granted

TERM = (
    "id: term\nname: Term\neffective_from: 2020-01-01\ncurrency: USD\n"
    "earning: {base_rates: {USD: 10}}\nexpiry: {months_after_earning: 6}\n"
)


async def lot_of(pool: asyncpg.Pool, idempotency_key: str) -> tuple[datetime, datetime | None]:
    """When the credit with this key was earned, and when its points expire."""
    lot = await pool.fetchrow(
        """SELECT l.earned_at, l.expires_at FROM lots l JOIN ledger_entries e USING (entry_id)
            WHERE e.idempotency_key = $1""",
        idempotency_key,
    )
    return lot["earned_at"], lot["expires_at"]


async def enrolled(points: points_pb2_grpc.PointsServiceStub) -> str:
    member_id = new_id("m")
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    return member_id


def adjustment(member_id: str, points: int, key: str) -> pb.AdjustPointsRequest:
    return pb.AdjustPointsRequest(
        member_id=member_id, points=points, reason="goodwill", actor="agent-7", idempotency_key=key
    )


async def test_an_adjustment_credit_expires_on_the_program_term_counted_from_the_adjustment(
    pool: asyncpg.Pool, channel: grpc.aio.Channel
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member_id = await enrolled(points)
    await points.AdjustPoints(adjustment(member_id, 40, "before-any-program"))
    await ProgramApplication(pool).apply(TERM)
    await points.AdjustPoints(adjustment(member_id, 250, "under-the-term"))
    await points.AdjustPoints(adjustment(member_id, -30, "a-debit"))

    earned_at, expires_at = await lot_of(pool, "adjust:under-the-term")
    assert expires_at == add_months(earned_at, 6)
    assert (await lot_of(pool, "adjust:before-any-program"))[1] is None  # no term was in force then
    schedule = await points.GetPointsSchedule(pb.GetPointsScheduleRequest(member_id=member_id))
    # The debit drew the points that expire first: the credit's, of the two.
    assert [(e.expires_at.ToDatetime(tzinfo=UTC), e.points) for e in schedule.expiring] == [(expires_at, 220)]


async def test_a_goodwill_credit_expires_on_the_program_term_counted_from_the_credit(pool: asyncpg.Pool) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(TERM)
    member_id = new_id("m")
    await PointsApplication(pool, 2, programs).enroll(Enrollment(member_id, "", "", ""))
    ticket_id = str(uuid.uuid4())
    envelope = granted(member_id, ticket_id, 120)
    grant = ticket_events.GoodwillGranted()
    envelope.payload.Unpack(grant)
    async with pool.acquire() as connection, connection.transaction():
        await credit_goodwill(connection, envelope, grant, programs=programs)

    earned_at, expires_at = await lot_of(pool, f"goodwill:{ticket_id}")
    assert expires_at == add_months(earned_at, 6)
