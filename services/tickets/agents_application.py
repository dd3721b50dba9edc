"""Agent use cases: upsert, availability, reading an agent and the queue. Changes drain the queue."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.common.db import unit_of_work
from services.common.errors import NotFound, Violations
from services.tickets import agents_store, paging, store
from services.tickets.agents import STATUSES, Agent, validate_agent
from services.tickets.application import Clock, existing_agent, page_size, utc_now
from services.tickets.assignment import drain_queue, lock_routing
from services.tickets.domain import Ticket, require_id


@dataclass(frozen=True)
class AgentChange:
    agent: Agent
    assigned_ticket_ids: list[str]


class AgentsApplication:
    def __init__(self, pool: asyncpg.Pool, now: Clock = utc_now) -> None:
        self._pool = pool
        self._now = now

    async def upsert(self, agent: Agent, skill_entries: list[tuple[str, int]]) -> AgentChange:
        violations = Violations()
        validate_agent(agent, skill_entries, violations)
        violations.raise_if_any()
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            await agents_store.upsert_agent(connection, agent)
            return await self._after_change(connection, agent.agent_id)

    async def set_status(self, agent_id: str, status: str, violations: Violations | None = None) -> AgentChange:
        """`violations` may hold what the caller found already (an unknown status value), reported together."""
        violations = violations or Violations()
        require_id(violations, "agent_id", agent_id)
        if status not in STATUSES and not violations.about("status"):
            violations.add("status", f"must be one of {', '.join(STATUSES)}")
        violations.raise_if_any()
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            if not await agents_store.set_status(connection, agent_id, status):
                raise NotFound(f"agent_id: no agent {agent_id!r}")
            return await self._after_change(connection, agent_id)

    async def _after_change(self, connection: asyncpg.Connection, agent_id: str) -> AgentChange:
        assigned = await drain_queue(connection, self._now())
        agent = await agents_store.get_agent(connection, agent_id)
        assert agent is not None
        return AgentChange(agent, [a.ticket_id for a in assigned if a.agent_id == agent_id])

    async def get(self, agent_id: str) -> Agent:
        async with self._pool.acquire() as connection:
            return await existing_agent(connection, agent_id, "agent_id")

    async def queue(self, requested_page_size: int, page_token: str) -> tuple[list[Ticket], str]:
        """A page of the queue, in queue order, and the next page's token."""
        limit = page_size(requested_page_size)
        after = paging.queue_position(page_token)
        async with self._pool.acquire() as connection:
            rows = await store.queued(connection, limit + 1, after)
        page, last = paging.page_and_last(rows, limit)
        return page, paging.queue_token(last)
