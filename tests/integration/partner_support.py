"""The partner intake over gRPC, as tests drive it: a tiered program, an airline with a key, members, flights."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc

from tests.integration.points_ledger_support import new_id

TIERED = """
id: coalition
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 1}
pending:
  days: 14
expiry:
  months_after_earning: 24
tiers:
  basis: points
  window: calendar_year
  levels:
    - {name: blue, threshold: 0}
    - {name: gold, threshold: 5000}
"""
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def admin(channel: grpc.aio.Channel) -> partners_pb2_grpc.PartnerServiceStub:
    return partners_pb2_grpc.PartnerServiceStub(channel)


@pytest.fixture
def intake(channel: grpc.aio.Channel) -> partners_pb2_grpc.PartnerAccrualServiceStub:
    return partners_pb2_grpc.PartnerAccrualServiceStub(channel)


async def airline(
    admin: partners_pb2_grpc.PartnerServiceStub, rate: str = "1", since: date = date(2020, 1, 1)
) -> tuple[str, str]:
    """A registered airline with a MILE rate from `since`; returns (partner id, its key)."""
    partner_id = new_id("air").lower()
    await admin.RegisterPartner(
        pb.RegisterPartnerRequest(partner_id=partner_id, name="Sky Air", kind=pb.PARTNER_KIND_AIRLINE)
    )
    await set_rate(admin, partner_id, "MILE", rate, since)
    issued = await admin.IssuePartnerCredential(pb.IssuePartnerCredentialRequest(partner_id=partner_id))
    return partner_id, issued.api_key


async def set_rate(
    admin: partners_pb2_grpc.PartnerServiceStub, partner_id: str, unit: str, points_per_unit: str, since: date
) -> pb.SetConversionRateResponse:
    """A rate of the partner's `unit` from the start of `since` (UTC), as `loyalty partner rate --from` sets it."""
    effective_from = Timestamp()
    effective_from.FromDatetime(datetime.combine(since, time(), tzinfo=UTC))
    rate = pb.ConversionRate(unit=unit, points_per_unit=points_per_unit, effective_from=effective_from)
    return await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def flight(tx: str, member_id: str, miles: str = "1000", **fields: object) -> pb.AccrualRecord:
    values: dict[str, object] = {
        "partner_transaction_id": tx,
        "member_id": member_id,
        "activity_type": pb.ACTIVITY_TYPE_FLIGHT,
        "activity_date": TODAY,
        "unit": "MILE",
        "amount": miles,
    }
    return pb.AccrualRecord(**(values | fields))  # type: ignore[arg-type]


async def revoke_key(
    admin: partners_pb2_grpc.PartnerServiceStub, pool: asyncpg.Pool, partner_id: str, deadline_s: float | None = None
) -> None:
    """Revoke the partner's (one) key, as an operator would by its credential id."""
    credential = await pool.fetchval("SELECT credential_id FROM partner_credentials WHERE partner_id = $1", partner_id)
    revoke = pb.RevokePartnerCredentialRequest(partner_id=partner_id, credential_id=str(credential))
    await admin.RevokePartnerCredential(revoke, timeout=deadline_s)


async def enroll(channel: grpc.aio.Channel, family_name: str = "Smith") -> str:
    member_id = new_id("m")
    points = points_pb2_grpc.PointsServiceStub(channel)
    await points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id, family_name=family_name))
    return member_id


async def balance(channel: grpc.aio.Channel, member_id: str) -> points_pb2.GetBalanceResponse:
    points = points_pb2_grpc.PointsServiceStub(channel)
    return await points.GetBalance(points_pb2.GetBalanceRequest(member_id=member_id))
