"""With tokens configured, every service refuses strangers, keeps administrative RPCs to admins,
and a partner's key opens its intake and nothing else. Real servers on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.insights.v1 import insights_pb2, insights_pb2_grpc
from loyalty.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from loyalty.points.v1 import (
    partners_pb2,
    partners_pb2_grpc,
    points_pb2,
    points_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
)
from loyalty.rewards.v1 import catalog_pb2, catalog_pb2_grpc, rewards_pb2, rewards_pb2_grpc
from loyalty.tickets.v1 import agents_pb2, agents_pb2_grpc, tickets_pb2, tickets_pb2_grpc

from services.common.auth import Authorizer, Caller
from services.common.grpc_server import GrpcServer
from services.common.runtime import ServiceParts
from services.common.settings import KafkaSettings, service_settings
from services.insights.main import build as build_insights
from services.notifications.main import build as build_notifications
from services.points.main import build as build_points
from services.points.partner_application import PartnerApplication
from services.rewards.main import build as build_rewards
from services.tickets.main import build as build_tickets
from tests.integration.support import PoolFactory, code_of

SERVICE, ADMIN = "service-token-" + "s" * 20, "admin-token-" + "a" * 20
AUTHORIZER = Authorizer({SERVICE: Caller("rewards", "service"), ADMIN: Caller("ops", "admin")})
BUILDERS: dict[str, Callable[..., ServiceParts]] = {
    "points": build_points,
    "rewards": build_rewards,
    "tickets": build_tickets,
    "insights": build_insights,
    "notifications": build_notifications,
}


def as_(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def channels(migrated_pool: PoolFactory, kafka_settings: KafkaSettings) -> AsyncIterator[dict[str, Any]]:
    servers, channels, pools = [], {}, {}
    for name, build in BUILDERS.items():
        _, pool = await migrated_pool(name)
        settings = replace(service_settings(name, {}), kafka=kafka_settings, grpc_port=0)
        server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations, authorizer=AUTHORIZER)
        await server.start()
        servers.append(server)
        channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        pools[name] = pool
    channels["points_pool"] = pools["points"]
    yield channels
    for name in BUILDERS:
        await channels[name].close()
    for server in servers:
        await server.stop(grace=1)


async def test_strangers_are_unauthenticated_and_services_are_not_admins(channels: dict[str, Any]) -> None:
    points = points_pb2_grpc.PointsServiceStub(channels["points"])
    programs = program_pb2_grpc.ProgramServiceStub(channels["points"])
    partners = partners_pb2_grpc.PartnerServiceStub(channels["points"])
    catalog = catalog_pb2_grpc.CatalogServiceStub(channels["rewards"])
    rewards = rewards_pb2_grpc.RewardsServiceStub(channels["rewards"])
    agents = agents_pb2_grpc.AgentServiceStub(channels["tickets"])
    tickets = tickets_pb2_grpc.TicketsServiceStub(channels["tickets"])
    balance = points_pb2.GetBalanceRequest(member_id="nobody")
    apply = program_pb2.ApplyProgramRequest(definition="")
    register = partners_pb2.RegisterPartnerRequest(partner_id="p")
    create = catalog_pb2.CreateRewardRequest()
    upsert = agents_pb2.UpsertAgentRequest()
    kpis = insights_pb2_grpc.InsightsServiceStub(channels["insights"])
    preferences = notifications_pb2_grpc.NotificationPreferencesServiceStub(channels["notifications"])
    expected = [
        # (call without a token, with the service token, with the admin token)
        (lambda m: points.GetBalance(balance, metadata=m), "NOT_FOUND", "NOT_FOUND"),
        (
            lambda m: points.CloseMember(points_pb2.CloseMemberRequest(member_id="nobody"), metadata=m),
            "PERMISSION_DENIED",
            "INVALID_ARGUMENT",
        ),
        (lambda m: programs.ApplyProgram(apply, metadata=m), "PERMISSION_DENIED", "INVALID_ARGUMENT"),
        (lambda m: partners.RegisterPartner(register, metadata=m), "PERMISSION_DENIED", "INVALID_ARGUMENT"),
        (lambda m: catalog.CreateReward(create, metadata=m), "PERMISSION_DENIED", "INVALID_ARGUMENT"),
        (
            lambda m: rewards.GetRedemption(rewards_pb2.GetRedemptionRequest(), metadata=m),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (lambda m: agents.UpsertAgent(upsert, metadata=m), "PERMISSION_DENIED", "INVALID_ARGUMENT"),
        (  # an agent's availability is the agent desk's, a service's: not an admin's only
            lambda m: agents.SetAgentStatus(agents_pb2.SetAgentStatusRequest(), metadata=m),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (
            lambda m: tickets.GetTicket(tickets_pb2.GetTicketRequest(), metadata=m),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (lambda m: kpis.GetKpis(insights_pb2.GetKpisRequest(), metadata=m), "PERMISSION_DENIED", "INVALID_ARGUMENT"),
        (
            lambda m: preferences.GetPreferences(notifications_pb2.GetPreferencesRequest(), metadata=m),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
    ]
    for call, as_service, as_admin in expected:
        assert await code_of(call(())) == grpc.StatusCode.UNAUTHENTICATED
        assert await code_of(call(as_("made-up-token-" + "x" * 20))) == grpc.StatusCode.UNAUTHENTICATED
        assert (await code_of(call(as_(SERVICE)))).name == as_service
        assert (await code_of(call(as_(ADMIN)))).name == as_admin
    for name in BUILDERS:
        health = health_pb2_grpc.HealthStub(channels[name])
        assert (await health.Check(health_pb2.HealthCheckRequest())).status == health_pb2.HealthCheckResponse.SERVING


async def test_a_partner_key_opens_its_intake_and_nothing_else(channels: dict[str, Any]) -> None:
    partners = PartnerApplication(channels["points_pool"])
    await partners.register("sky-air", "Sky Air", "airline")
    key = (await partners.issue_key("sky-air")).api_key
    intake = partners_pb2_grpc.PartnerAccrualServiceStub(channels["points"])
    batch = partners_pb2.AccrualBatch(records=[partners_pb2.AccrualRecord(partner_transaction_id="t1")])
    answer = await intake.SubmitAccruals(batch, metadata=as_(key))
    assert answer.results[0].status == partners_pb2.ACCRUAL_STATUS_INVALID
    assert await code_of(intake.SubmitAccruals(batch, metadata=as_(SERVICE))) == grpc.StatusCode.UNAUTHENTICATED

    points = points_pb2_grpc.PointsServiceStub(channels["points"])
    partner_admin = partners_pb2_grpc.PartnerServiceStub(channels["points"])
    reconciliation = partners_pb2.GetReconciliationRequest(partner_id="sky-air", day="2026-01-01")
    for call in (
        points.GetBalance(points_pb2.GetBalanceRequest(member_id="m"), metadata=as_(key)),
        partner_admin.GetReconciliation(reconciliation, metadata=as_(key)),
        rewards_pb2_grpc.RewardsServiceStub(channels["rewards"]).GetRedemption(
            rewards_pb2.GetRedemptionRequest(), metadata=as_(key)
        ),
        insights_pb2_grpc.InsightsServiceStub(channels["insights"]).GetKpis(
            insights_pb2.GetKpisRequest(), metadata=as_(key)
        ),
        notifications_pb2_grpc.NotificationPreferencesServiceStub(channels["notifications"]).GetPreferences(
            notifications_pb2.GetPreferencesRequest(member_id="m"), metadata=as_(key)
        ),
    ):
        assert await code_of(call) == grpc.StatusCode.UNAUTHENTICATED


async def test_without_tokens_configured_a_partner_key_still_opens_only_its_intake(
    migrated_pool: PoolFactory, kafka_settings: KafkaSettings
) -> None:
    """As `loyalty dev` runs: services accept every caller, but not a partner presenting its key elsewhere."""
    _, pool = await migrated_pool("points")
    settings = replace(service_settings("points", {}), kafka=kafka_settings, grpc_port=0)
    server = GrpcServer("127.0.0.1:0", build_points(settings, pool).registrations)
    await server.start()
    partners = PartnerApplication(pool)
    await partners.register("sky-air", "Sky Air", "airline")
    await partners.register("sea-hotel", "Sea Hotel", "hotel")
    key = (await partners.issue_key("sky-air")).api_key
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            admin = partners_pb2_grpc.PartnerServiceStub(channel)
            another_partners_key = partners_pb2.IssuePartnerCredentialRequest(partner_id="sea-hotel")
            adjust = points_pb2.AdjustPointsRequest(
                member_id="m", points=1000, reason="r", actor="a", idempotency_key="k"
            )
            for call in (
                lambda m: admin.IssuePartnerCredential(another_partners_key, metadata=m),
                lambda m: points_pb2_grpc.PointsServiceStub(channel).AdjustPoints(adjust, metadata=m),
            ):
                assert await code_of(call(as_(key))) == grpc.StatusCode.PERMISSION_DENIED
            assert await code_of(admin.IssuePartnerCredential(another_partners_key)) == grpc.StatusCode.OK
            intake = partners_pb2_grpc.PartnerAccrualServiceStub(channel)
            batch = partners_pb2.AccrualBatch(records=[partners_pb2.AccrualRecord(partner_transaction_id="t1")])
            assert (await intake.SubmitAccruals(batch, metadata=as_(key))).results[0].status == (
                partners_pb2.ACCRUAL_STATUS_INVALID
            )
    finally:
        await server.stop(grace=1)
    assert await pool.fetchval("SELECT count(*) FROM partner_credentials WHERE partner_id = 'sea-hotel'") == 1
