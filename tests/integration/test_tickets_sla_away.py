"""SLA breaches of tickets whose assignee is not available: moved to whoever qualifies, else back to the queue."""

from __future__ import annotations

from datetime import timedelta

from loyalty.events.v1 import tickets_pb2 as events
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from tests.integration.test_tickets_grpc import member, opening, payload_of
from tests.integration.tickets_fixtures import TicketsPlatform, agent, platform

__all__ = ["platform"]


async def gold_ticket_with_senior_then(platform: TicketsPlatform, status: int) -> pb.Ticket:
    """A gold member's ticket (first reply due within 1 hour) with `senior`, whose status is then `status`."""
    gold = member()
    await platform.set_tier(gold, "gold")
    await platform.agents.UpsertAgent(agent("senior", {"accounts": 5}))
    ticket = (await platform.tickets.OpenTicket(opening(gold))).ticket
    assert ticket.assignee == "senior"
    await platform.agents.SetAgentStatus(agents_pb.SetAgentStatusRequest(agent_id="senior", status=status))
    return ticket


async def fetched(platform: TicketsPlatform, ticket: pb.Ticket) -> pb.Ticket:
    return (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket


async def last_assignment(platform: TicketsPlatform) -> tuple[str, str, str]:
    last = payload_of((await platform.outbox("TicketAssigned"))[-1], events.TicketAssigned)
    return last.agent_id, last.previous_agent_id, last.reason  # type: ignore[attr-defined]


async def test_a_breached_ticket_of_an_away_assignee_goes_to_the_best_available_agent_of_any_level(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket_with_senior_then(platform, agents_pb.AGENT_STATUS_AWAY)
    await platform.agents.UpsertAgent(agent("junior", {"accounts": 1}))
    await platform.agents.UpsertAgent(agent("middle", {"accounts": 3}))
    await platform.agents.UpsertAgent(agent("german", {"accounts": 4}, languages=("de",)))
    platform.clock.advance(timedelta(hours=1, minutes=1))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    moved = await fetched(platform, ticket)
    assert (moved.assignee, moved.priority) == ("middle", pb.TICKET_PRIORITY_URGENT)
    assert await last_assignment(platform) == ("middle", "senior", "escalation")


async def test_a_breached_ticket_of_a_busy_assignee_nobody_can_take_waits_in_the_queue_for_the_next_agent(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket_with_senior_then(platform, agents_pb.AGENT_STATUS_BUSY)
    platform.clock.advance(timedelta(hours=1, minutes=1))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    assert (await fetched(platform, ticket)).assignee == ""
    queue = (await platform.agents.GetQueue(agents_pb.GetQueueRequest())).tickets
    assert [(t.ticket_id, t.priority) for t in queue] == [(ticket.ticket_id, pb.TICKET_PRIORITY_URGENT)]

    change = await platform.agents.UpsertAgent(agent("late", {"accounts": 2}))
    assert list(change.assigned_ticket_ids) == [ticket.ticket_id]
    assert (await fetched(platform, ticket)).assignee == "late"
    assert await last_assignment(platform) == ("late", "", "routing")


async def test_a_breached_ticket_of_an_available_assignee_still_only_moves_up(platform: TicketsPlatform) -> None:
    ticket = await gold_ticket_with_senior_then(platform, agents_pb.AGENT_STATUS_AVAILABLE)
    await platform.agents.UpsertAgent(agent("middle", {"accounts": 3}))
    platform.clock.advance(timedelta(hours=1, minutes=1))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    assert (await fetched(platform, ticket)).assignee == "senior"
