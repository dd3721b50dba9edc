"""Goodwill over gRPC on real PostgreSQL: the claim asked about again before paying, and who may approve."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.events import timestamp
from tests.integration.tickets_fixtures import START, TicketsPlatform, agent, platform, tickets_without_points

__all__ = ["platform"]


async def claimant(platform: TicketsPlatform) -> str:
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=member_id))
    await platform.set_tier(member_id, "base")
    return member_id


async def open_claim(platform: TicketsPlatform, member_id: str, purchase_id: str) -> pb.Ticket:
    request = pb.OpenTicketRequest(
        member_id=member_id,
        category=pb.TICKET_CATEGORY_MISSING_POINTS,
        channel=pb.TICKET_CHANNEL_EMAIL,
        subject="points missing",
        description="my purchase earned nothing",
        claim=pb.Claim(purchase_id=purchase_id),
    )
    return (await platform.tickets.OpenTicket(request)).ticket


async def record_purchase(platform: TicketsPlatform, member_id: str, purchase_id: str) -> None:
    await platform.points.RecordPurchase(
        points_pb.RecordPurchaseRequest(
            purchase_id=purchase_id,
            member_id=member_id,
            amount=Money(amount_minor=10000, currency_code="USD"),
            occurred_at=timestamp(START - timedelta(days=1)),
        )
    )


def resolving(ticket_id: str, agent_id: str, points: int) -> pb.ResolveTicketRequest:
    return pb.ResolveTicketRequest(
        ticket_id=ticket_id, agent_id=agent_id, resolution="credited", goodwill_points=points, goodwill_reason="lost"
    )


async def written_for(platform: TicketsPlatform, ticket_id: str) -> tuple[str, int, int]:
    """The ticket's status, its grant rows and the outbox events naming it."""
    ticket = uuid.UUID(ticket_id)
    status = await platform.pool.fetchval("SELECT status FROM tickets WHERE ticket_id = $1", ticket)
    grants = await platform.pool.fetchval("SELECT count(*) FROM goodwill_grants WHERE ticket_id = $1", ticket)
    events = await platform.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type IN ($1, $2)",
        "loyalty.events.v1.TicketResolved",
        "loyalty.events.v1.GoodwillGranted",
    )
    return status, grants, events


async def test_goodwill_is_refused_unavailable_when_the_claim_cannot_be_checked_again(
    platform: TicketsPlatform,
) -> None:
    member_id = await claimant(platform)
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}))
    late = (await open_claim(platform, member_id, "late-3")).ticket_id
    await record_purchase(platform, member_id, "late-3")  # the late file: credited after the ticket opened
    before = await written_for(platform, late)

    async with tickets_without_points(platform) as tickets:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await tickets.ResolveTicket(resolving(late, "ann", 200))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not be checked again" in (refused.value.details() or "")
    assert "retry" in (refused.value.details() or "")
    assert await written_for(platform, late) == before  # still open, no grant, no event

    with pytest.raises(grpc.aio.AioRpcError) as credited:
        await platform.tickets.ResolveTicket(resolving(late, "ann", 200))
    assert credited.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=late))).ticket
    assert fetched.claim_check.status == pb.CLAIM_STATUS_ALREADY_CREDITED


async def test_an_approval_is_refused_unavailable_when_the_claim_cannot_be_checked_again(
    platform: TicketsPlatform,
) -> None:
    member_id = await claimant(platform)
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}, goodwill_limit=100))
    await platform.agents.UpsertAgent(agent("bea", {"claims": 2}))
    late = (await open_claim(platform, member_id, "late-4")).ticket_id
    pending = await platform.tickets.ResolveTicket(resolving(late, "ann", 400))
    assert pending.ticket.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL
    await record_purchase(platform, member_id, "late-4")

    async with tickets_without_points(platform) as tickets:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await tickets.ApproveGoodwill(pb.ApproveGoodwillRequest(ticket_id=late, approver_agent_id="bea"))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not be checked again" in (refused.value.details() or "")
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=late))).ticket
    assert (fetched.goodwill.status, fetched.goodwill.approved_by) == (pb.GOODWILL_STATUS_PENDING_APPROVAL, "")
    assert await platform.outbox("GoodwillGranted") == []


async def test_an_approver_must_have_a_limit_covering_the_points(platform: TicketsPlatform) -> None:
    member_id = await claimant(platform)
    await platform.agents.UpsertAgent(agent("low", {"claims": 3}, goodwill_limit=100))
    await platform.agents.UpsertAgent(agent("lev1", {"claims": 1}))  # the policy's agent limit: 500
    await platform.agents.UpsertAgent(agent("boss", {"claims": 5}, goodwill_limit=10_000_000))
    huge = (await open_claim(platform, member_id, "order-huge")).ticket_id
    pending = await platform.tickets.ResolveTicket(resolving(huge, "low", 10_000_000))
    assert pending.ticket.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ApproveGoodwill(pb.ApproveGoodwillRequest(ticket_id=huge, approver_agent_id="lev1"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == (
        "approver_agent_id: agent 'lev1' has a goodwill limit of 500 points, below the grant's 10000000; "
        "an agent whose limit covers it must approve"
    )
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=huge))).ticket
    assert (fetched.goodwill.status, fetched.goodwill.approved_by) == (pb.GOODWILL_STATUS_PENDING_APPROVAL, "")
    assert await platform.outbox("GoodwillGranted") == []

    # Above the ticket limit (2000) too: the approver's own limit is what must cover it.
    approved = await platform.tickets.ApproveGoodwill(
        pb.ApproveGoodwillRequest(ticket_id=huge, approver_agent_id="boss")
    )
    assert (approved.ticket.goodwill.status, approved.ticket.goodwill.approved_by) == (
        pb.GOODWILL_STATUS_GRANTED,
        "boss",
    )
