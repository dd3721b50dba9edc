"""Edge values protobuf lets through and a request must still be refused for, naming the field, writing nothing.

- Timestamps at the very ends of protobuf's range (0001-01-01T00:00:00Z, 9999-12-31T23:59:59.999999999Z) are
  valid Timestamps, but asyncpg stores exactly datetime.min and datetime.max as -infinity and infinity and reads
  them back as *naive* datetimes: every later read or comparison of the row fails (INTERNAL) for good.
- Durations whose nanos are outside -999,999,999..999,999,999, or whose sign differs from the seconds', are no
  valid Duration (google/protobuf/duration.proto), as nanos outside range are no valid Timestamp.
- RevokePartnerCredential checks the partner id as the other partner RPCs do.

Real servers on real PostgreSQL.
"""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc, points_pb2, points_pb2_grpc
from loyalty.rewards.v1 import catalog_pb2, codes_pb2

from tests.integration.partner_support import admin, airline, auth, flight, intake
from tests.integration.rewards_support import RewardsWorld, reward_spec
from tests.integration.support import field_violations

# Fixtures used by name.
__all__ = ["admin", "intake"]

# The first and the last instant a Timestamp may hold: what asyncpg writes as -infinity and infinity.
FIRST = Timestamp(seconds=-62_135_596_800, nanos=0)
LAST = Timestamp(seconds=253_402_300_799, nanos=999_999_999)
EDGES = [pytest.param(FIRST, id="0001-01-01T00:00:00Z"), pytest.param(LAST, id="9999-12-31T23:59:59.999999999Z")]
# Each a Duration of about a day that duration.proto calls invalid.
BAD_DURATIONS = [
    pytest.param(Duration(seconds=86_400, nanos=1_000_000_000), id="nanos=1e9"),
    pytest.param(Duration(seconds=86_400, nanos=-1), id="nanos=-1 with positive seconds"),
]


def _names(error: grpc.aio.AioRpcError, field: str) -> bool:
    return error.code() == grpc.StatusCode.INVALID_ARGUMENT and any(
        name.endswith(field) for name in field_violations(error)
    )


@pytest.mark.parametrize("effective_from", EDGES)
async def test_a_rate_from_the_first_or_last_instant_is_refused_and_the_partner_keeps_working(
    admin: partners_pb2_grpc.PartnerServiceStub,
    intake: partners_pb2_grpc.PartnerAccrualServiceStub,
    pool: asyncpg.Pool,
    effective_from: Timestamp,
) -> None:
    partner_id, key = await airline(admin)
    rows = await pool.fetchval("SELECT count(*) FROM partner_rates WHERE partner_id = $1", partner_id)
    rate = pb.ConversionRate(unit="MILE", points_per_unit="2", effective_from=effective_from)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.SetConversionRate(pb.SetConversionRateRequest(partner_id=partner_id, rate=rate))

    assert _names(refused.value, "rate.effective_from"), (refused.value.code(), refused.value.details())
    assert await pool.fetchval("SELECT count(*) FROM partner_rates WHERE partner_id = $1", partner_id) == rows
    await admin.GetPartner(pb.GetPartnerRequest(partner_id=partner_id))
    answered = await intake.SubmitAccruals(
        pb.AccrualBatch(records=[flight(f"tx-{uuid.uuid4().hex[:8]}", "nobody")]), metadata=auth(key)
    )
    assert answered.results[0].status == pb.ACCRUAL_STATUS_UNKNOWN_MEMBER


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
@pytest.mark.parametrize("edge", EDGES)
async def test_a_reward_valid_from_or_until_the_first_or_last_instant_is_refused(
    rewards_world: RewardsWorld, field: str, edge: Timestamp
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=reward_spec(**{field: edge})))

    assert _names(refused.value, field), (refused.value.code(), refused.value.details())
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM rewards") == 0
    await rewards_world.catalog.ListRewards(catalog_pb2.ListRewardsRequest())


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
@pytest.mark.parametrize("edge", EDGES)
async def test_a_promo_campaign_valid_from_or_until_the_first_or_last_instant_is_refused(
    rewards_world: RewardsWorld, field: str, edge: Timestamp
) -> None:
    request = codes_pb2.CreatePromoCampaignRequest(
        name="Summer sale",
        value=codes_pb2.CodeValue(kind=catalog_pb2.REWARD_KIND_DISCOUNT_PERCENT, percent_off=15),
        code_count=2,
        uses_per_code=1,
        idempotency_key=uuid.uuid4().hex,
    )
    getattr(request, field).CopyFrom(edge)
    tables = "(SELECT count(*) FROM promo_campaigns) + (SELECT count(*) FROM codes)"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.codes.CreatePromoCampaign(request)

    assert _names(refused.value, field), (refused.value.code(), refused.value.details())
    assert await rewards_world.rewards_pool.fetchval(f"SELECT {tables}") == 0


@pytest.mark.parametrize("ttl", BAD_DURATIONS)
async def test_a_hold_ttl_that_is_no_valid_duration_is_refused_naming_ttl(
    channel: grpc.aio.Channel, pool: asyncpg.Pool, ttl: Duration
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id))
    await points.AdjustPoints(
        points_pb2.AdjustPointsRequest(
            member_id=member_id, points=100, reason="seed", actor="test", idempotency_key="s"
        )
    )
    request = points_pb2.HoldPointsRequest(member_id=member_id, points=10, idempotency_key="h", ttl=ttl)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await points.HoldPoints(request)

    assert _names(refused.value, "ttl"), (refused.value.code(), refused.value.details())
    assert await pool.fetchval("SELECT count(*) FROM holds") == 0


@pytest.mark.parametrize("code_validity", BAD_DURATIONS)
async def test_a_reward_code_validity_that_is_no_valid_duration_is_refused(
    rewards_world: RewardsWorld, code_validity: Duration
) -> None:
    spec = reward_spec(code_validity=code_validity)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rewards_world.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=spec))

    assert _names(refused.value, "code_validity"), (refused.value.code(), refused.value.details())
    assert await rewards_world.rewards_pool.fetchval("SELECT count(*) FROM rewards") == 0


@pytest.mark.parametrize("partner_id", ["", " ", "x" * 10_000, "Sky Air"], ids=["empty", "space", "10k", "not-an-id"])
async def test_revoking_a_key_checks_the_partner_id_as_the_other_partner_rpcs_do(
    admin: partners_pb2_grpc.PartnerServiceStub, partner_id: str
) -> None:
    owner, _ = await airline(admin)
    issued = await admin.IssuePartnerCredential(pb.IssuePartnerCredentialRequest(partner_id=owner))
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await admin.GetPartner(pb.GetPartnerRequest(partner_id=partner_id))
    assert _names(other.value, "partner_id")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.RevokePartnerCredential(
            pb.RevokePartnerCredentialRequest(partner_id=partner_id, credential_id=issued.credential_id)
        )

    assert _names(refused.value, "partner_id"), (refused.value.code(), (refused.value.details() or "")[:200])
