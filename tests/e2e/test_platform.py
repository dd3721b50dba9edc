"""The platform is up: health, reflection, and points events reaching rewards and tickets."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from loyalty.points.v1 import points_pb2_grpc

from services.common.settings import SERVICE_NAMES
from services.dev import Platform
from tests.e2e.support import enroll, eventually, known_tier

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_every_service_reports_serving(platform: Platform, service: str) -> None:
    async with grpc.aio.insecure_channel(platform.grpc_address(service)) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("points", "loyalty.points.v1.PointsService"),
        ("rewards", "loyalty.rewards.v1.MemberViewService"),
        ("tickets", "loyalty.tickets.v1.MemberViewService"),
    ],
)
async def test_reflection_lists_the_service_package(platform: Platform, service: str, expected: str) -> None:
    async with grpc.aio.insecure_channel(platform.grpc_address(service)) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name async for r in responses for s in r.list_services_response.service]
    assert expected in names
    assert "grpc.health.v1.Health" in names


@pytest.mark.parametrize("service", ["rewards", "tickets"])
async def test_an_enrolled_member_appears_in_the_tier_view_of(
    platform: Platform, points: points_pb2_grpc.PointsServiceStub, service: str
) -> None:
    member_id = await enroll(points)
    tier = await eventually(
        lambda: known_tier(platform, service, member_id),
        lambda t: t == "base",
        f"{service} tier of {member_id}",
    )
    assert tier == "base"
