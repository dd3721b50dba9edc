"""The SLA job: for each due time passed, TicketSlaBreached, a raised priority and escalated routing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from loyalty.events.v1 import tickets_pb2 as events

from services.common.db import unit_of_work
from services.common.events import timestamp
from services.tickets import domain, store
from services.tickets.application import Clock, utc_now
from services.tickets.assignment import lock_routing, need_of, route
from services.tickets.policy import Policy
from services.tickets.ticket_events import emit

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
        now = self._now()
        async with self._pool.acquire() as connection:
            candidates = await store.breach_candidates(connection, now, BATCH)
        breaches = 0
        for ticket_id in candidates:
            breaches += await self._escalate(ticket_id)
        return SlaRun(breaches)

    async def _escalate(self, ticket_id: uuid.UUID) -> int:
        """Marks a ticket's passed due times, one transaction per ticket; the number of breaches."""
        now = self._now()
        escalation = self._policy.escalation
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            ticket = await store.get_ticket(connection, ticket_id, lock=True)
            assert ticket is not None
            due = domain.due_breaches(ticket, now)
            if not due:
                return 0  # answered or resolved since the candidates were read
            ticket = domain.escalated(ticket, [sla for sla, _ in due], escalation)
            excluded = [ticket.assignee] if ticket.assignee else []
            need = need_of(ticket, min_level=escalation.min_skill_level, excluded=excluded)
            ticket = await route(connection, ticket, need, "escalation", now)
            await store.update_ticket(connection, ticket)
            for sla, due_at in due:
                breached = events.TicketSlaBreached(
                    ticket_id=str(ticket.ticket_id),
                    member_id=ticket.member_id,
                    sla=sla,
                    due_at=timestamp(due_at),
                    priority=ticket.priority,
                    agent_id=ticket.assignee or "",
                )
                await emit(connection, breached, ticket.member_id, now)
            return len(due)
