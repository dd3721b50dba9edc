"""The cast of the fault scenarios, set up over gRPC: members, a partner, rewards and an agent.

Everything here goes through the services' public APIs. Members start with a
credit (an adjustment the books expect) so redemptions rarely run short.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.points.v1 import partners_pb2, partners_pb2_grpc, points_pb2, points_pb2_grpc
from loyalty.rewards.v1 import catalog_pb2, catalog_pb2_grpc, codes_pb2_grpc, rewards_pb2_grpc
from loyalty.tickets.v1 import agents_pb2, agents_pb2_grpc, tickets_pb2, tickets_pb2_grpc

from services.dev import Platform
from tests.faults.books import Books

STARTING_CREDIT = 100_000
REWARD_COST = 25
PARTNER_POINTS_PER_USD = 10
AGENT_ID = "faults-agent"


@dataclass
class Stubs:
    points: points_pb2_grpc.PointsServiceStub
    partners: partners_pb2_grpc.PartnerServiceStub
    intake: partners_pb2_grpc.PartnerAccrualServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    rewards: rewards_pb2_grpc.RewardsServiceStub
    rewards_view: rewards_pb2_grpc.MemberViewServiceStub
    codes: codes_pb2_grpc.CodesServiceStub
    tickets: tickets_pb2_grpc.TicketsServiceStub
    tickets_view: tickets_pb2_grpc.MemberViewServiceStub
    agents: agents_pb2_grpc.AgentServiceStub


@asynccontextmanager
async def stubs_for(platform: Platform) -> AsyncIterator[Stubs]:
    async with (
        grpc.aio.insecure_channel(platform.grpc_address("points")) as points,
        grpc.aio.insecure_channel(platform.grpc_address("rewards")) as rewards,
        grpc.aio.insecure_channel(platform.grpc_address("tickets")) as tickets,
    ):
        yield Stubs(
            points=points_pb2_grpc.PointsServiceStub(points),
            partners=partners_pb2_grpc.PartnerServiceStub(points),
            intake=partners_pb2_grpc.PartnerAccrualServiceStub(points),
            catalog=catalog_pb2_grpc.CatalogServiceStub(rewards),
            rewards=rewards_pb2_grpc.RewardsServiceStub(rewards),
            rewards_view=rewards_pb2_grpc.MemberViewServiceStub(rewards),
            codes=codes_pb2_grpc.CodesServiceStub(rewards),
            tickets=tickets_pb2_grpc.TicketsServiceStub(tickets),
            tickets_view=tickets_pb2_grpc.MemberViewServiceStub(tickets),
            agents=agents_pb2_grpc.AgentServiceStub(tickets),
        )


@dataclass(frozen=True)
class Cast:
    """What one scenario's load works with."""

    members: tuple[str, ...]
    partner_id: str
    partner_key: str
    reward_id: str
    # Costs more points than anyone has: its redemptions are refused.
    dear_reward_id: str


async def _partner(stubs: Stubs, tag: str) -> tuple[str, str]:
    partner_id = f"faults-{tag}"
    await stubs.partners.RegisterPartner(
        partners_pb2.RegisterPartnerRequest(
            partner_id=partner_id, name="Fault Air", kind=partners_pb2.PARTNER_KIND_AIRLINE
        )
    )
    since = Timestamp()
    since.FromDatetime(datetime(2020, 1, 1, tzinfo=UTC))
    rate = partners_pb2.ConversionRate(unit="USD", points_per_unit=str(PARTNER_POINTS_PER_USD), effective_from=since)
    await stubs.partners.SetConversionRate(partners_pb2.SetConversionRateRequest(partner_id=partner_id, rate=rate))
    issued = await stubs.partners.IssuePartnerCredential(
        partners_pb2.IssuePartnerCredentialRequest(partner_id=partner_id)
    )
    return partner_id, issued.api_key


async def _reward(stubs: Stubs, name: str, cost: int) -> str:
    spec = catalog_pb2.RewardSpec(
        name=name,
        kind=catalog_pb2.REWARD_KIND_DISCOUNT_FIXED,
        cost_points=cost,
        code_source=catalog_pb2.CODE_SOURCE_GENERATED,
        trigger=catalog_pb2.REWARD_TRIGGER_REDEEM,
        code_validity=Duration(seconds=30 * 86400),
    )
    spec.amount.amount_minor, spec.amount.currency_code = 500, "USD"
    created = await stubs.catalog.CreateReward(catalog_pb2.CreateRewardRequest(spec=spec))
    return str(created.reward.reward_id)


async def _agent(stubs: Stubs) -> None:
    agent = agents_pb2.Agent(
        agent_id=AGENT_ID,
        skills=[agents_pb2.AgentSkill(skill="accounts", level=5)],
        languages=["en"],
        capacity=100,
        status=agents_pb2.AGENT_STATUS_AVAILABLE,
        goodwill_limit=1000,
    )
    await stubs.agents.UpsertAgent(agents_pb2.UpsertAgentRequest(agent=agent))


async def _member(stubs: Stubs, books: Books, member_id: str) -> None:
    await stubs.points.EnrollMember(points_pb2.EnrollMemberRequest(member_id=member_id, family_name="Fault"))
    await stubs.points.AdjustPoints(
        points_pb2.AdjustPointsRequest(
            member_id=member_id,
            points=STARTING_CREDIT,
            reason="starting credit",
            actor="faults",
            idempotency_key=member_id,
        )
    )
    books.expect(member_id, f"adjust:{member_id}", STARTING_CREDIT, "setup")


async def _tier_known(stubs: Stubs, member_id: str, deadline_s: float = 60) -> None:
    """OpenTicket needs the member's tier, which tickets learns from points events."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            await stubs.tickets_view.GetMemberTier(tickets_pb2.GetMemberTierRequest(member_id=member_id))
            return
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def cast(stubs: Stubs, books: Books, members: int = 12) -> Cast:
    tag = uuid.uuid4().hex[:8]
    partner_id, key = await _partner(stubs, tag)
    reward_id = await _reward(stubs, f"voucher {tag}", REWARD_COST)
    dear_reward_id = await _reward(stubs, f"villa {tag}", 1_000_000_000)
    await _agent(stubs)
    member_ids = tuple(f"faults-{tag}-{i:02d}" for i in range(members))
    for member_id in member_ids:
        await _member(stubs, books, member_id)
    for member_id in member_ids:
        await _tier_known(stubs, member_id)
    return Cast(member_ids, partner_id, key, reward_id, dear_reward_id)
