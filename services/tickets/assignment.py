"""Putting tickets with agents: routing a ticket, draining the queue, assigning by hand.

Every transaction that assigns takes the routing lock first, so two
assignments never both see an agent's last free slot, and the round-robin
sequence stays strictly increasing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import asyncpg
from loyalty.events.v1 import tickets_pb2 as events

from services.common.errors import FailedPrecondition
from services.tickets import agents_store, routing, store
from services.tickets.agents import Agent
from services.tickets.domain import Ticket
from services.tickets.ticket_events import emit, emit_all

# Any constant works; every assigning transaction takes it first.
_ROUTING_LOCK_KEY = 0x71C4E7
QUEUE_DRAIN_LIMIT = 500


async def lock_routing(connection: asyncpg.Connection) -> None:
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _ROUTING_LOCK_KEY)


def need_of(ticket: Ticket, *, min_level: int = 1, excluded: Sequence[str] = ()) -> routing.Need:
    return routing.Need(ticket.required_skill, ticket.language, ticket.tier, min_level, frozenset(excluded))


async def _assigned(
    connection: asyncpg.Connection, ticket: Ticket, agent_id: str, reason: str, now: datetime
) -> Ticket:
    sequence = await agents_store.next_assignment_sequence(connection)
    await agents_store.record_assignment(connection, agent_id, sequence)
    await emit(connection, _assigned_event(ticket, agent_id, reason), ticket.member_id, now)
    return replace(ticket, assignee=agent_id, queued_at=None)


def _assigned_event(ticket: Ticket, agent_id: str, reason: str) -> events.TicketAssigned:
    return events.TicketAssigned(
        ticket_id=str(ticket.ticket_id),
        member_id=ticket.member_id,
        agent_id=agent_id,
        previous_agent_id=ticket.assignee or "",
        reason=reason,
    )


async def route(
    connection: asyncpg.Connection, ticket: Ticket, need: routing.Need, reason: str, now: datetime
) -> Ticket:
    """The ticket given to the best-qualified available agent, or left as it is when nobody qualifies.

    The caller holds the routing lock and writes the returned ticket.
    """
    agents = await agents_store.available_agents(connection)
    chosen = routing.choose([a.state() for a in agents], need)
    if chosen is None:
        return ticket
    return await _assigned(connection, ticket, chosen.agent_id, reason, now)


async def assign_to(connection: asyncpg.Connection, ticket: Ticket, agent: Agent, now: datetime) -> Ticket:
    """A manual assignment: the agent must serve the ticket's skill, language and tier and have room (whether
    they are available is the assigning person's call); a refusal names each condition the agent fails."""
    need = need_of(ticket)
    state = replace(agent.state(), available=True)
    if ticket.assignee == agent.agent_id:
        return ticket
    unmet = routing.unmet(state, need)
    if unmet:
        raise FailedPrecondition(f"agent_id: agent {agent.agent_id!r} cannot take the ticket: {'; '.join(unmet)}")
    return await _assigned(connection, ticket, agent.agent_id, "manual", now)


async def drain_queue_if_left(connection: asyncpg.Connection, left: str | None, ticket: Ticket, now: datetime) -> None:
    """The agent the ticket `left` (moved by hand or by escalation) may have room for a queued ticket now."""
    if left and ticket.assignee != left:
        await drain_queue(connection, now)


async def _record_drained(
    connection: asyncpg.Connection,
    queued: Mapping[str, Ticket],
    planned: Sequence[routing.Assignment],
    first: int,
    now: datetime,
) -> None:
    """A page's assignments in three statements, whatever their number: the tickets, the agents' rotation
    (the n-th assignment of the page took sequence first + n) and the TicketAssigned events."""
    await store.assign_queued(connection, [(queued[a.ticket_id].ticket_id, a.agent_id) for a in planned])
    last_sequence = {a.agent_id: first + index for index, a in enumerate(planned)}
    await agents_store.record_assignments(connection, last_sequence)
    announced = [
        (_assigned_event(queued[a.ticket_id], a.agent_id, "routing"), queued[a.ticket_id].member_id) for a in planned
    ]
    await emit_all(connection, announced, now)


async def drain_queue(connection: asyncpg.Connection, now: datetime) -> list[routing.Assignment]:
    """Assign queued tickets to whoever now qualifies; the caller holds the routing lock.

    A page at a time, of tickets an agent with room can take: every page assigns at least its first ticket,
    and the next is asked of the agents still with room, so this ends when they are full or the queue is.
    """
    assigned: list[routing.Assignment] = []
    while True:
        agents = [a.state() for a in await agents_store.available_agents(connection)]
        with_room = [a.agent_id for a in agents if a.load < a.capacity]
        queue = await store.queued_for(connection, with_room, QUEUE_DRAIN_LIMIT) if with_room else []
        if not queue:
            return assigned
        first = await agents_store.next_assignment_sequence(connection)
        planned = routing.drain([(str(t.ticket_id), need_of(t)) for t in queue], agents, first)
        await _record_drained(connection, {str(t.ticket_id): t for t in queue}, planned, first, now)
        assigned.extend(planned)
        if not planned or len(queue) < QUEUE_DRAIN_LIMIT:
            return assigned
