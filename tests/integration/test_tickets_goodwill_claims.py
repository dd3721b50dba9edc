"""Goodwill resolving a missing-points claim, from the tickets service to the points service: the claimed purchase,
recorded afterwards, is not paid twice."""

from __future__ import annotations

import uuid

from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import tickets_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.events import timestamp
from services.points.goodwill import credit_goodwill
from services.points.program_application import ProgramApplication
from tests.integration.test_tickets_grpc import member, opening
from tests.integration.tickets_fixtures import START, TicketsPlatform, agent, platform

__all__ = ["platform"]


async def resolved_with_goodwill(platform: TicketsPlatform, ticket_id: str, points: int) -> EventEnvelope:
    """The GoodwillGranted the resolution wrote to the tickets outbox."""
    await platform.tickets.ResolveTicket(
        pb.ResolveTicketRequest(
            ticket_id=ticket_id, agent_id="ann", resolution="credited", goodwill_points=points, goodwill_reason="lost"
        )
    )
    return EventEnvelope.FromString((await platform.outbox("GoodwillGranted"))[-1])


async def credited_by_points(platform: TicketsPlatform, envelope: EventEnvelope) -> events.GoodwillGranted:
    """Credit the grant as the points service's goodwill consumer does; returns the event's payload."""
    grant = events.GoodwillGranted()
    envelope.payload.Unpack(grant)
    async with platform.points_pool.acquire() as connection, connection.transaction():
        await credit_goodwill(connection, envelope, grant, programs=ProgramApplication(platform.points_pool))
    return grant


async def test_goodwill_on_a_claim_stands_for_the_purchase_recorded_after_it(platform: TicketsPlatform) -> None:
    claimant = member()
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=claimant))
    await platform.set_tier(claimant, "base")
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3, "account": 3}, goodwill_limit=500))
    never_seen = f"never-seen-{uuid.uuid4().hex[:8]}"
    claim = pb.Claim(purchase_id=never_seen)
    ticket = (
        await platform.tickets.OpenTicket(opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS, claim=claim))
    ).ticket
    assert ticket.claim_check.status == pb.CLAIM_STATUS_NOT_CREDITED

    grant = await credited_by_points(platform, await resolved_with_goodwill(platform, ticket.ticket_id, 300))
    assert (grant.claim_purchase_id, grant.claim_partner_id, grant.claim_partner_transaction_id) == (never_seen, "", "")

    # The purchase itself arrives late: 300.00 USD at 2 a unit would earn 600; the goodwill paid 300 of them.
    late = await platform.points.RecordPurchase(
        points_pb.RecordPurchaseRequest(
            purchase_id=never_seen,
            member_id=claimant,
            amount=Money(amount_minor=30000, currency_code="USD"),
            occurred_at=timestamp(START),
        )
    )
    assert (late.points_earned, late.balance) == (300, 600)
    assert [(c.source, c.points) for c in late.breakdown] == [("base", 600), (f"goodwill:{ticket.ticket_id}", -300)]

    # Goodwill on a ticket that claims nothing names no claim.
    other = (await platform.tickets.OpenTicket(opening(claimant))).ticket
    plain = await credited_by_points(platform, await resolved_with_goodwill(platform, other.ticket_id, 20))
    assert (plain.ticket_id, plain.claim_purchase_id, plain.claim_partner_id) == (other.ticket_id, "", "")


async def test_goodwill_on_a_partner_claim_names_the_partner_transaction(platform: TicketsPlatform) -> None:
    claimant = member()
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=claimant))
    await platform.set_tier(claimant, "base")
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}, goodwill_limit=500))
    claim = pb.Claim(partner_id="sky-air", partner_transaction_id="flight-9")
    ticket = (
        await platform.tickets.OpenTicket(opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS, claim=claim))
    ).ticket
    grant = await credited_by_points(platform, await resolved_with_goodwill(platform, ticket.ticket_id, 250))
    assert (grant.claim_purchase_id, grant.claim_partner_id, grant.claim_partner_transaction_id) == (
        "",
        "sky-air",
        "flight-9",
    )
    kept = await platform.points_pool.fetchrow(
        "SELECT claim_purchase_id, claim_partner_id, claim_partner_transaction_id FROM goodwill_credits"
        " WHERE ticket_id = $1",
        ticket.ticket_id,
    )
    assert tuple(kept) == (None, "sky-air", "flight-9")
