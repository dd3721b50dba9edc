"""Customer service on the whole platform: tier SLAs learned from events, agents coming and going, claims, goodwill.

Everything goes through gRPC and Kafka between processes: the tickets service
learns tiers from points events, asks points about claims over gRPC, and the
points service credits goodwill from GoodwillGranted events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.points.v1 import points_pb2_grpc, program_pb2, program_pb2_grpc
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import agents_pb2_grpc, tickets_pb2_grpc
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.client import record_purchase_request
from services.common.events import timestamp
from services.dev import Platform
from tests.e2e.conftest import running_platform
from tests.e2e.support import balance, enroll, eventually, known_tier

pytestmark = pytest.mark.e2e

HOTEL = Path(__file__).resolve().parents[2] / "examples" / "programs" / "hotel.yaml"


@dataclass
class Desk:
    platform: Platform
    points: points_pb2_grpc.PointsServiceStub
    tickets: tickets_pb2_grpc.TicketsServiceStub
    agents: agents_pb2_grpc.AgentServiceStub

    async def open(self, member_id: str, **fields: object) -> pb.Ticket:
        request = pb.OpenTicketRequest(
            member_id=member_id,
            category=pb.TICKET_CATEGORY_ACCOUNT,
            channel=pb.TICKET_CHANNEL_CHAT,
            subject="help",
        )
        for name, value in fields.items():
            if isinstance(value, pb.Claim):
                request.claim.CopyFrom(value)
            else:
                setattr(request, name, value)
        return (await self.tickets.OpenTicket(request)).ticket

    async def agent(
        self,
        agent_id: str,
        skills: dict[str, int],
        status: int,
        languages: tuple[str, ...] = ("en",),
        goodwill_limit: int = 0,
    ) -> None:
        await self.agents.UpsertAgent(
            agents_pb.UpsertAgentRequest(
                agent=agents_pb.Agent(
                    agent_id=agent_id,
                    skills=[agents_pb.AgentSkill(skill=s, level=level) for s, level in skills.items()],
                    languages=list(languages),
                    capacity=10,
                    status=status,
                    goodwill_limit=goodwill_limit,
                )
            )
        )

    async def status(self, agent_id: str, status: int) -> list[str]:
        changed = await self.agents.SetAgentStatus(agents_pb.SetAgentStatusRequest(agent_id=agent_id, status=status))
        return list(changed.assigned_ticket_ids)

    async def resolve(self, ticket_id: str, agent_id: str, goodwill: int = 0) -> pb.Ticket:
        request = pb.ResolveTicketRequest(
            ticket_id=ticket_id,
            agent_id=agent_id,
            resolution="sorted",
            goodwill_points=goodwill,
            goodwill_reason="missing stay credited by hand" if goodwill else "",
        )
        return (await self.tickets.ResolveTicket(request)).ticket


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> AsyncIterator[Desk]:
    """A platform of its own with the hotel program applied, so purchases reach tiers."""
    async with (
        running_platform(tmp_path_factory, postgres_admin_url) as platform,
        grpc.aio.insecure_channel(platform.grpc_address("points")) as points_channel,
        grpc.aio.insecure_channel(platform.grpc_address("tickets")) as tickets_channel,
    ):
        await program_pb2_grpc.ProgramServiceStub(points_channel).ApplyProgram(
            program_pb2.ApplyProgramRequest(definition=HOTEL.read_text())
        )
        yield Desk(
            platform,
            points_pb2_grpc.PointsServiceStub(points_channel),
            tickets_pb2_grpc.TicketsServiceStub(tickets_channel),
            agents_pb2_grpc.AgentServiceStub(tickets_channel),
        )


def stay(member_id: str, dollars: int) -> points_pb.RecordPurchaseRequest:
    return record_purchase_request(member_id, Money(amount_minor=dollars * 100, currency_code="USD"))


async def tier_known(desk: Desk, member_id: str, tier: str) -> None:
    await eventually(lambda: known_tier(desk.platform, "tickets", member_id), lambda t: t == tier, f"{tier} tier")


async def test_tier_reached_by_purchases_gets_its_sla_and_agents_come_and_go(desk: Desk) -> None:
    available, away = agents_pb.AGENT_STATUS_AVAILABLE, agents_pb.AGENT_STATUS_AWAY
    await desk.agent("e2e-ann", {"accounts": 2}, available)
    await desk.agent("e2e-bob", {"accounts": 4}, away)
    member_id = await enroll(desk.points)
    await tier_known(desk, member_id, "member")
    first = await desk.open(member_id)
    assert (first.sla_policy, first.priority, first.assignee) == ("standard", pb.TICKET_PRIORITY_LOW, "e2e-ann")

    await desk.points.RecordPurchase(stay(member_id, 5000))  # 50,000 points: gold
    await tier_known(desk, member_id, "gold")
    assert await desk.status("e2e-bob", available) == []  # nothing was queued
    second = await desk.open(member_id)
    assert (second.tier, second.sla_policy, second.priority) == ("gold", "top-tier", pb.TICKET_PRIORITY_HIGH)
    assert second.assignee == "e2e-bob"  # the more skilled agent, now available
    opened_at = second.opened_at.ToDatetime(tzinfo=UTC)
    assert second.first_response_due.ToDatetime(tzinfo=UTC) - opened_at == timedelta(hours=1)

    await desk.status("e2e-ann", away)
    await desk.status("e2e-bob", away)
    queued = await desk.open(member_id, language="de")
    assert queued.assignee == ""
    queue = (await desk.agents.GetQueue(agents_pb.GetQueueRequest())).tickets
    assert queued.ticket_id in [t.ticket_id for t in queue]
    await desk.agent("e2e-dora", {"accounts": 1}, available, languages=("de",))
    fetched = (await desk.tickets.GetTicket(pb.GetTicketRequest(ticket_id=queued.ticket_id))).ticket
    assert fetched.assignee == "e2e-dora"


async def test_claims_and_goodwill_credited_once_by_the_points_service(desk: Desk) -> None:
    await desk.agent("e2e-cleo", {"claims": 3}, agents_pb.AGENT_STATUS_AVAILABLE)
    # A supervisor: approving goodwill takes a limit that covers it.
    await desk.agent("e2e-dan", {"claims": 2}, agents_pb.AGENT_STATUS_AVAILABLE, goodwill_limit=1000)
    member_id = await enroll(desk.points)
    await tier_known(desk, member_id, "member")
    credited_stay = stay(member_id, 100)
    await desk.points.RecordPurchase(credited_stay)
    before = await balance(desk.points, member_id)
    claim = pb.TICKET_CATEGORY_MISSING_POINTS

    credited = await desk.open(member_id, category=claim, claim=pb.Claim(purchase_id=credited_stay.purchase_id))
    assert (credited.claim_check.status, credited.claim_check.credited_points) == (
        pb.CLAIM_STATUS_ALREADY_CREDITED,
        1000,
    )
    assert (await desk.resolve(credited.ticket_id, credited.assignee)).status == pb.TICKET_STATUS_RESOLVED

    lost = await desk.open(member_id, category=claim, claim=pb.Claim(purchase_id="stay-never-sent"))
    assert lost.claim_check.status == pb.CLAIM_STATUS_NOT_CREDITED
    within = await desk.resolve(lost.ticket_id, "e2e-cleo", goodwill=400)
    assert within.goodwill.status == pb.GOODWILL_STATUS_GRANTED
    await eventually(lambda: balance(desk.points, member_id), lambda b: b == before + 400, "goodwill within limit")

    big = await desk.open(member_id, category=claim, claim=pb.Claim(purchase_id="stay-lost-too"))
    pending = await desk.resolve(big.ticket_id, "e2e-cleo", goodwill=900)
    assert pending.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL
    approved = await desk.tickets.ApproveGoodwill(
        pb.ApproveGoodwillRequest(ticket_id=big.ticket_id, approver_agent_id="e2e-dan")
    )
    assert approved.ticket.goodwill.approved_by == "e2e-dan"
    await eventually(lambda: balance(desk.points, member_id), lambda b: b == before + 1300, "approved goodwill")
    entries = (await desk.points.ListLedgerEntries(points_pb.ListLedgerEntriesRequest(member_id=member_id))).entries
    goodwill = sorted(e.description for e in entries if "goodwill on ticket" in e.description)
    assert len(goodwill) == 2
    assert any(big.ticket_id in d and "approved by e2e-dan" in d for d in goodwill)

    await desk.tickets.SubmitSurvey(
        pb.SubmitSurveyRequest(ticket_id=big.ticket_id, effort=2, satisfaction=5, recommend=10)
    )
    now = datetime.now(UTC)
    metrics = await desk.tickets.GetServiceMetrics(
        pb.GetServiceMetricsRequest(
            from_time=timestamp(now - timedelta(hours=1)),
            to_time=timestamp(now + timedelta(minutes=1)),
            category=claim,
            agent_id="e2e-cleo",
        )
    )
    assert (metrics.surveys, metrics.nps, metrics.csat, metrics.average_effort) == (1, 100.0, 100.0, 2.0)
