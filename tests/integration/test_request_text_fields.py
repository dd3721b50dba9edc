"""Names, reasons, keys and email addresses are refused with a control character or a line break in them (or, for
an email address, when no address could be so), naming the field and writing nothing: stored, they let one caller
forge lines and terminal escapes in what others read (`loyalty balance` prints reasons one per line).

The points server in-process on real PostgreSQL.
"""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from tests.integration.support import field_violations
from tests.integration.test_points_grpc import enroll, purchase_request, table_counts

FORGED_LINE = "goodwill\n  2026-12-07 09:00:00  +99999  fake line"
ESCAPE = "Bob\x1b[31mRED\x1b[0m"


@pytest.fixture
def points(channel: grpc.aio.Channel) -> points_pb2_grpc.PointsServiceStub:
    return points_pb2_grpc.PointsServiceStub(channel)


async def refused_naming(call: object, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert field in field_violations(refused.value), refused.value.details()


@pytest.mark.parametrize(
    ("field", "value"),
    [("reason", FORGED_LINE), ("actor", ESCAPE), ("idempotency_key", "key with spaces\n"), ("reason", "a\u2028b")],
)
async def test_an_adjustment_with_a_broken_line_is_refused_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool, field: str, value: str
) -> None:
    member_id = await enroll(points)
    before = await table_counts(pool)
    request = pb.AdjustPointsRequest(
        member_id=member_id, points=100, reason="goodwill", actor="agent-7", idempotency_key=uuid.uuid4().hex
    )
    setattr(request, field, value)
    await refused_naming(points.AdjustPoints(request), field)
    assert await table_counts(pool) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("given_name", "Bob\nSmith\x07"),
        ("family_name", ESCAPE),
        ("email", "a@@b.com"),
        ("email", "a@b..com"),
        ("email", " a@b.com"),
        ("email", "a@b.com\n"),
    ],
)
async def test_an_enrolment_with_a_broken_name_or_email_is_refused_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool, field: str, value: str
) -> None:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    request = pb.EnrollMemberRequest(member_id=member_id, email="a@example.com", given_name="Ann", family_name="Lee")
    setattr(request, field, value)
    await refused_naming(points.EnrollMember(request), field)
    assert await pool.fetchval("SELECT count(*) FROM members WHERE member_id = $1", member_id) == 0


async def test_names_in_any_script_and_addresses_with_international_domains_are_kept(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    request = pb.EnrollMemberRequest(
        member_id=f"m-{uuid.uuid4().hex[:8]}", email="zoë@exämple.de", given_name="Zoë", family_name="Søren-Ōtake"
    )
    enrolled = await points.EnrollMember(request)
    assert (enrolled.member.given_name, enrolled.member.family_name) == ("Zoë", "Søren-Ōtake")


async def test_a_purchase_from_a_broken_channel_or_sku_is_refused_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool
) -> None:
    member_id = await enroll(points)
    before = await table_counts(pool)
    await refused_naming(points.RecordPurchase(purchase_request(member_id, channel="web\n")), "channel")
    assert await table_counts(pool) == before


async def test_a_hold_under_a_broken_key_or_description_is_refused(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool
) -> None:
    member_id = await enroll(points)
    for field, value in (("idempotency_key", "hold\r\n1"), ("description", ESCAPE)):
        request = pb.HoldPointsRequest(
            member_id=member_id, points=10, idempotency_key="hold-1", ttl=Duration(seconds=600), description="reward"
        )
        setattr(request, field, value)
        await refused_naming(points.HoldPoints(request), field)
    assert await pool.fetchval("SELECT count(*) FROM holds") == 0
