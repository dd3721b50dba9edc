"""Goodwill for a member the points service closed: refused before anything is written, as points would credit none.

The closure reaches tickets as points announces it: the MemberClosed points wrote to its outbox, sent through the
real broker to the tickets service's member view consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.settings import KafkaSettings
from tests.integration.support import TopicFactory, deliver_member_closed
from tests.integration.test_tickets_goodwill import claimant, open_claim, resolving, written_for
from tests.integration.tickets_fixtures import TicketsPlatform, agent, platform

__all__ = ["platform"]

Closing = Callable[[str], Awaitable[None]]
REFUSAL = "member_id: member {!r} is closed: no goodwill can be credited"


@pytest.fixture
def close(
    platform: TicketsPlatform, kafka_settings: KafkaSettings, producer: AIOKafkaProducer, fresh_topic: TopicFactory
) -> Closing:
    """Close a member in points, then let the tickets service's member view consume the MemberClosed it wrote."""

    async def closing(member_id: str) -> None:
        await platform.points.CloseMember(
            points_pb.CloseMemberRequest(member_id=member_id, reason="member request", actor="agent-7")
        )
        await deliver_member_closed(
            platform.points_pool,
            "tickets",
            platform.pool,
            member_id,
            kafka_settings=kafka_settings,
            producer=producer,
            fresh_topic=fresh_topic,
        )

    return closing


async def test_resolving_with_goodwill_for_a_closed_member_is_refused_and_writes_nothing(
    platform: TicketsPlatform, close: Closing
) -> None:
    member_id = await claimant(platform)
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}))
    ticket_id = (await open_claim(platform, member_id, "order-1")).ticket_id
    await close(member_id)
    before = await written_for(platform, ticket_id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ResolveTicket(resolving(ticket_id, "ann", 200))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == REFUSAL.format(member_id)
    assert await written_for(platform, ticket_id) == before  # still open, no grant, no event

    # Without goodwill the ticket is closed out.
    resolved = await platform.tickets.ResolveTicket(resolving(ticket_id, "ann", 0))
    assert resolved.ticket.status == pb.TICKET_STATUS_RESOLVED
    assert await platform.outbox("GoodwillGranted") == []


async def test_approving_a_grant_left_pending_before_the_closure_is_refused(
    platform: TicketsPlatform, close: Closing
) -> None:
    member_id = await claimant(platform)
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}, goodwill_limit=100))
    await platform.agents.UpsertAgent(agent("bea", {"claims": 2}))
    ticket_id = (await open_claim(platform, member_id, "order-2")).ticket_id
    pending = await platform.tickets.ResolveTicket(resolving(ticket_id, "ann", 400))
    assert pending.ticket.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL
    await close(member_id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ApproveGoodwill(pb.ApproveGoodwillRequest(ticket_id=ticket_id, approver_agent_id="bea"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == REFUSAL.format(member_id)
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))).ticket
    assert (fetched.goodwill.status, fetched.goodwill.approved_by) == (pb.GOODWILL_STATUS_PENDING_APPROVAL, "")
    assert await platform.outbox("GoodwillGranted") == []
