"""The points gRPC server in-process on real PostgreSQL: status codes, field violations, health, reflection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc, program_pb2_grpc
from loyalty.points.v1 import program_pb2 as program_pb

from services.common import page_tokens
from services.common.events import timestamp
from tests.integration.support import field_violations, set_read_only


@pytest.fixture
def points(channel: grpc.aio.Channel) -> points_pb2_grpc.PointsServiceStub:
    return points_pb2_grpc.PointsServiceStub(channel)


def purchase_request(member_id: str, **changes: object) -> pb.RecordPurchaseRequest:
    request = pb.RecordPurchaseRequest(
        purchase_id=f"order-{uuid.uuid4().hex[:8]}",
        member_id=member_id,
        amount=Money(amount_minor=4299, currency_code="USD"),
        occurred_at=timestamp(datetime.now(UTC) - timedelta(minutes=1)),
    )
    for name, value in changes.items():
        if value is None:
            request.ClearField(name)
        elif isinstance(value, Message):  # Money, Timestamp: set by copy
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


async def table_counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM purchases), (SELECT count(*) FROM outbox)"
    )
    return (row[0], row[1], row[2])


async def enroll(points: points_pb2_grpc.PointsServiceStub) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    response = await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id, email="a@example.com"))
    assert response.member.tier == "base"
    return member_id


async def test_a_purchase_earns_and_a_repeat_is_a_duplicate(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    request = purchase_request(member_id)
    first = await points.RecordPurchase(request)
    again = await points.RecordPurchase(request)
    assert (first.points_earned, first.duplicate, first.balance) == (84, False, 84)
    assert (again.points_earned, again.duplicate, again.balance) == (84, True, 84)
    assert again.entry.entry_id == first.entry.entry_id
    balance = await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))
    assert (balance.balance, balance.lifetime_earned) == (84, 84)
    entries = await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id))
    assert [e.points for e in entries.entries] == [84]
    assert entries.entries[0].kind == pb.ENTRY_KIND_PURCHASE_EARN


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"amount": Money(amount_minor=-1, currency_code="USD")}, {"amount.amount_minor"}),
        ({"amount": Money(amount_minor=100, currency_code="XYZ")}, {"amount.currency_code"}),
        ({"amount": Money(amount_minor=100, currency_code="usd")}, {"amount.currency_code"}),
        ({"occurred_at": None}, {"occurred_at"}),
        ({"purchase_id": ""}, {"purchase_id"}),
        ({"purchase_id": "", "amount": Money(amount_minor=-5, currency_code="")}, {
            "purchase_id", "amount.amount_minor", "amount.currency_code"}),
    ],
)  # fmt: skip
async def test_bad_purchases_are_invalid_argument_naming_each_field_and_write_nothing(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool, changes: dict[str, object], fields: set[str]
) -> None:
    member_id = await enroll(points)
    before = await table_counts(pool)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.RecordPurchase(purchase_request(member_id, **changes))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == fields
    assert await table_counts(pool) == before


async def test_a_purchase_stamped_ahead_is_refunded_in_real_time_but_not_a_day_before_its_stamp(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    member_id = await enroll(points)
    stamp = datetime.now(UTC) + timedelta(hours=23)
    ahead = purchase_request(member_id, occurred_at=timestamp(stamp))
    await points.RecordPurchase(ahead)  # accepted: up to 24 hours ahead of the service's clock
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.RefundPurchase(refund_request(ahead.purchase_id, stamp - timedelta(hours=24, seconds=1)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value)["occurred_at"].startswith("is more than 24 hours before the purchase's")
    # The clocks stamping purchases and refunds may be a day apart: a refund dated now, hours before its stamp.
    refunded = await points.RefundPurchase(refund_request(ahead.purchase_id, datetime.now(UTC)))
    assert (refunded.points_reversed, refunded.entry.points) == (84, -84)
    assert (await points.GetBalance(pb.GetBalanceRequest(member_id=member_id))).balance == 0


def refund_request(purchase_id: str, occurred_at: datetime) -> pb.RefundPurchaseRequest:
    """A full refund of a purchase_request's purchase."""
    return pb.RefundPurchaseRequest(
        refund_id=f"refund-{uuid.uuid4().hex[:8]}",
        purchase_id=purchase_id,
        amount=Money(amount_minor=4299, currency_code="USD"),
        occurred_at=timestamp(occurred_at),
    )


async def test_unknown_member_is_not_found_and_writes_nothing(
    points: points_pb2_grpc.PointsServiceStub, pool: asyncpg.Pool
) -> None:
    before = await table_counts(pool)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.RecordPurchase(purchase_request("nobody-here"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "member_id" in (caught.value.details() or "")
    assert await table_counts(pool) == before
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.GetMember(pb.GetMemberRequest(member_id="nobody-here"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_enrolling_twice_is_already_exists(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_enrolling_with_a_birth_date_and_referrer_shows_them_and_bad_ones_name_the_field(
    points: points_pb2_grpc.PointsServiceStub,
) -> None:
    referrer = await enroll(points)
    request = pb.EnrollMemberRequest(member_id=f"m-{uuid.uuid4().hex[:8]}", birth_date="1990-03-17")
    request.referrer_member_id = referrer
    member = (await points.EnrollMember(request)).member
    assert (member.birth_date, member.referrer_member_id) == ("1990-03-17", referrer)
    fetched = (await points.GetMember(pb.GetMemberRequest(member_id=member.member_id))).member
    assert (fetched.birth_date, fetched.referrer_member_id) == ("1990-03-17", referrer)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.EnrollMember(pb.EnrollMemberRequest(member_id="m-bad-date", birth_date="17/03/1990"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(field_violations(caught.value)) == ["birth_date"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.EnrollMember(pb.EnrollMemberRequest(member_id="m-bad-ref", referrer_member_id="nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "referrer_member_id" in (caught.value.details() or "")


async def test_bad_page_token_is_invalid_argument(points: points_pb2_grpc.PointsServiceStub) -> None:
    member_id = await enroll(points)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id, page_token="%%%"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"page_token"}


async def test_a_forged_page_token_of_5000_digits_is_invalid(points: points_pb2_grpc.PointsServiceStub) -> None:
    """int() refuses more than 4300 digits with ValueError, which was answered INTERNAL."""
    member_id = await enroll(points)
    token = page_tokens.issue([member_id], ["1" * 5000])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id, page_token=token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value) == {"page_token": page_tokens.NOT_A_TOKEN}


async def test_health_and_reflection(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "loyalty.points.v1.PointsService"):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name async for r in responses for s in r.list_services_response.service}
    assert {"loyalty.points.v1.PointsService", "grpc.health.v1.Health"} <= names


async def test_record_activity_credits_a_configured_activity_once(
    channel: grpc.aio.Channel, points: points_pb2_grpc.PointsServiceStub
) -> None:
    definition = """
id: club
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 1}}
bonuses:
  signup: {points: 500}
  activities: [{id: newsletter-optin, points: 100}]
"""
    await program_pb2_grpc.ProgramServiceStub(channel).ApplyProgram(
        program_pb.ApplyProgramRequest(definition=definition)
    )
    member_id = await enroll(points)
    request = pb.RecordActivityRequest(
        member_id=member_id,
        activity_id="newsletter-optin",
        idempotency_key="optin",
        occurred_at=timestamp(datetime.now(UTC)),
    )
    first = await points.RecordActivity(request)
    assert (first.points_earned, first.balance, first.duplicate, first.entry.kind) == (
        100,
        600,
        False,
        pb.ENTRY_KIND_BONUS,
    )
    assert (await points.RecordActivity(request)).duplicate
    request.idempotency_key = "optin-again"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.RecordActivity(request)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "activity_id" in (caught.value.details() or "")
    request.activity_id = "tweet"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await points.RecordActivity(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"activity_id"}
    entries = await points.ListLedgerEntries(pb.ListLedgerEntriesRequest(member_id=member_id))
    assert [e.kind for e in entries.entries] == [pb.ENTRY_KIND_BONUS, pb.ENTRY_KIND_BONUS]


@pytest.mark.parametrize(
    ("method", "body", "message_type"),
    [
        ("/loyalty.points.v1.PointsService/RecordPurchase", b"\xff\xff\xff", "loyalty.points.v1.RecordPurchaseRequest"),
        # Field 1 (definition, a string) holding bytes that are not UTF-8.
        (
            "/loyalty.points.v1.ProgramService/ApplyProgram",
            b"\x0a\x02\xc3\x28",
            "loyalty.points.v1.ApplyProgramRequest",
        ),
    ],
)
async def test_bytes_that_are_no_request_message_are_invalid_argument(
    channel: grpc.aio.Channel, method: str, body: bytes, message_type: str
) -> None:
    call = channel.unary_unary(method)  # no serializers: the bytes go out as they are
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(body, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value)["request"].startswith(f"is not a valid {message_type} message")


async def test_a_call_met_by_a_read_only_database_is_unavailable_and_names_no_internals(
    pool: asyncpg.Pool, points: points_pb2_grpc.PointsServiceStub, postgres_admin_url: str
) -> None:
    """A database that takes no writes (a failover under way) is UNAVAILABLE, retried with the same key.

    It was UNKNOWN, with the asyncpg exception's class and text (which may name hosts and tables) as details.
    """
    await set_read_only(postgres_admin_url, pool, True)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await points.EnrollMember(pb.EnrollMemberRequest(member_id=f"m-{uuid.uuid4().hex[:8]}"))
    finally:
        await set_read_only(postgres_admin_url, pool, False)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
    assert "asyncpg" not in (refused.value.details() or "")
    assert "read-only" not in (refused.value.details() or "")
    await enroll(points)  # and once it takes writes again, calls go through
