"""The SLA job: for each due time passed, TicketSlaBreached, a raised priority and escalated routing.

A breached ticket goes to a more senior available agent when its assignee is available; when the assignee is
not (busy or away), to whoever routing picks, else back to the queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.db import unit_of_work
from services.tickets import agents_store, domain, store
from services.tickets.agents import Agent
from services.tickets.application import Clock, utc_now
from services.tickets.assignment import drain_queue_if_left, lock_routing, need_of, route
from services.tickets.policy import Policy
from services.tickets.routing import Need
from services.tickets.ticket_events import emit, sla_breached

BATCH = 100


@dataclass(frozen=True)
class SlaRun:
    breaches: int


class SlaJob:
    def __init__(self, pool: asyncpg.Pool, policy: Policy, now: Clock = utc_now) -> None:
        self._pool = pool
        self._policy = policy
        self._now = now

    async def run_once(self) -> SlaRun:
        """Every ticket past a due time, BATCH candidates at a time: tickets due at one closing time all escalate
        in this run, not a hundred per interval."""
        now = self._now()
        breaches = 0
        after: store.BreachCandidate | None = None
        while True:
            async with self._pool.acquire() as connection:
                candidates = await store.breach_candidates(connection, now, BATCH, after=after)
            for candidate in candidates:
                breaches += await self._escalate(candidate.ticket_id)
            if len(candidates) < BATCH:
                return SlaRun(breaches)
            after = candidates[-1]

    async def _escalate(self, ticket_id: uuid.UUID) -> int:
        """Marks a ticket's passed due times, one transaction per ticket; the number of breaches."""
        escalation = self._policy.escalation
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            ticket = await store.get_ticket(connection, ticket_id, lock=True)
            assert ticket is not None
            now = self._now()  # under the lock, as a reply reads it: the two judge the due time in commit order
            due = domain.due_breaches(ticket, now)
            if not due:
                return 0  # answered or resolved since the candidates were read
            ticket = domain.escalated(ticket, [sla for sla, _ in due], escalation)
            previous = ticket.assignee
            assignee = await agents_store.get_agent(connection, previous) if previous else None
            if previous and (assignee is None or assignee.status != "available"):
                ticket = await _away_from(connection, ticket, previous, now)
            else:
                ticket = await route(connection, ticket, self._senior_need(ticket, assignee), "escalation", now)
            await store.update_ticket(connection, ticket)
            await drain_queue_if_left(connection, previous, ticket, now)
            for sla, due_at in due:
                await emit(connection, sla_breached(ticket, sla, due_at), ticket.member_id, now)
            return len(due)

    def _senior_need(self, ticket: domain.Ticket, assignee: Agent | None) -> Need:
        """An agent other than the assignee, more skilled than the assignee and at least the policy's minimum."""
        min_level = self._policy.escalation.min_skill_level
        if assignee is None:
            return need_of(ticket, min_level=min_level)
        held = assignee.skills.get(ticket.required_skill, 0)
        return need_of(ticket, min_level=max(min_level, held + 1), excluded=[assignee.agent_id])


async def _away_from(
    connection: asyncpg.Connection, ticket: domain.Ticket, assignee: str, now: datetime
) -> domain.Ticket:
    """A breached ticket whose assignee is not available: anyone routing would pick (no level above the
    assignee's, whose level does not matter while they are away), else the queue, which gives it to the first
    agent who qualifies. Left with the assignee it would wait for them however long they stay away."""
    moved = await route(connection, ticket, need_of(ticket, excluded=[assignee]), "escalation", now)
    return moved if moved.assignee != assignee else domain.requeued(ticket, now)
