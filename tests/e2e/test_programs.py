"""A published-chart program applied as a user would, then purchases priced by it and a tier reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from loyalty.common.v1.common_pb2 import LineItem, Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc, program_pb2, program_pb2_grpc

from services.client import record_purchase_request
from services.dev import Platform
from tests.e2e.conftest import running_platform
from tests.e2e.support import enroll, eventually, known_tier

pytestmark = pytest.mark.e2e

HOTEL = Path(__file__).resolve().parents[2] / "examples" / "programs" / "hotel.yaml"


@pytest.fixture(scope="module")
async def hotel_platform(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Platform]:
    """A platform of its own: applying a program changes how every later purchase earns."""
    async with running_platform(tmp_path_factory, postgres_admin_url) as platform:
        async with grpc.aio.insecure_channel(platform.grpc_address("points")) as channel:
            applied = await program_pb2_grpc.ProgramServiceStub(channel).ApplyProgram(
                program_pb2.ApplyProgramRequest(definition=HOTEL.read_text())
            )
            assert applied.outcome == program_pb2.APPLY_OUTCOME_CREATED
        yield platform


def room_night(member_id: str, dollars: int) -> pb.RecordPurchaseRequest:
    request = record_purchase_request(member_id, Money(amount_minor=dollars * 100, currency_code="USD"))
    request.line_items.append(
        LineItem(
            sku="KING-NIGHT",
            category="room",
            quantity=1,
            unit_price=Money(amount_minor=dollars * 100, currency_code="USD"),
        )
    )
    return request


async def test_a_stay_earns_by_the_chart_and_says_why(hotel_platform: Platform) -> None:
    async with grpc.aio.insecure_channel(hotel_platform.grpc_address("points")) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        member_id = await enroll(points)
        response = await points.RecordPurchase(room_night(member_id, 250))
        assert response.program_id == "grand-hotels"
        assert response.points_earned == 2500  # 10 points per dollar
        assert [(c.source, c.points) for c in response.breakdown] == [("base", 2500)]
        member = (await points.GetMember(pb.GetMemberRequest(member_id=member_id))).member
        assert (member.tier, member.tier_progress.next_tier) == ("member", "silver")
        assert member.tier_progress.needed_for_next == "17500"


async def test_crossing_silver_reaches_the_tier_everywhere(hotel_platform: Platform) -> None:
    async with grpc.aio.insecure_channel(hotel_platform.grpc_address("points")) as channel:
        points = points_pb2_grpc.PointsServiceStub(channel)
        member_id = await enroll(points)
        await points.RecordPurchase(room_night(member_id, 2000))  # 20,000 points: silver
        member = (await points.GetMember(pb.GetMemberRequest(member_id=member_id))).member
        assert member.tier == "silver"
        bonus = await points.RecordPurchase(room_night(member_id, 100))
        assert [(c.source, c.points) for c in bonus.breakdown] == [("base", 1000), ("tier_bonus:silver", 100)]
    for service in ("rewards", "tickets"):
        tier = await eventually(
            lambda service=service: known_tier(hotel_platform, service, member_id), lambda t: t == "silver", service
        )
        assert tier == "silver"


async def test_a_bad_program_is_refused_naming_the_field(hotel_platform: Platform) -> None:
    async with grpc.aio.insecure_channel(hotel_platform.grpc_address("points")) as channel:
        programs = program_pb2_grpc.ProgramServiceStub(channel)
        broken = HOTEL.read_text().replace("rounding: down", "rounding: sideways")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await programs.ApplyProgram(program_pb2.ApplyProgramRequest(definition=broken))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "earning.rounding" in raised.value.details()
