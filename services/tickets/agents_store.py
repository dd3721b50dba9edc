"""SQL for agents, their skills and load."""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg

from services.tickets.agents import Agent

# Open tickets an agent holds count against capacity; resolved ones do not.
_AGENT_SELECT = """
    SELECT a.agent_id, a.display_name, a.languages, a.tiers, a.capacity, a.status, a.goodwill_limit, a.last_assigned,
           coalesce((SELECT jsonb_object_agg(s.skill, s.level) FROM agent_skills s WHERE s.agent_id = a.agent_id),
                    '{}') AS skills,
           (SELECT count(*) FROM tickets t WHERE t.assignee = a.agent_id AND t.status <> 'resolved') AS load
      FROM agents a
"""


def _agent(record: asyncpg.Record) -> Agent:
    return Agent(
        agent_id=record["agent_id"],
        display_name=record["display_name"],
        skills={str(k): int(v) for k, v in json.loads(record["skills"]).items()},
        languages=tuple(record["languages"]),
        tiers=tuple(record["tiers"]),
        capacity=record["capacity"],
        status=record["status"],
        goodwill_limit=record["goodwill_limit"],
        last_assigned=record["last_assigned"],
        load=record["load"],
    )


async def upsert_agent(connection: asyncpg.Connection, agent: Agent) -> None:
    await connection.execute(
        """INSERT INTO agents (agent_id, display_name, languages, tiers, capacity, status, goodwill_limit)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (agent_id) DO UPDATE SET display_name = EXCLUDED.display_name, languages = EXCLUDED.languages,
               tiers = EXCLUDED.tiers, capacity = EXCLUDED.capacity, status = EXCLUDED.status,
               goodwill_limit = EXCLUDED.goodwill_limit""",
        agent.agent_id,
        agent.display_name,
        list(agent.languages),
        list(agent.tiers),
        agent.capacity,
        agent.status,
        agent.goodwill_limit,
    )
    await connection.execute("DELETE FROM agent_skills WHERE agent_id = $1", agent.agent_id)
    await connection.executemany(
        "INSERT INTO agent_skills (agent_id, skill, level) VALUES ($1, $2, $3)",
        [(agent.agent_id, skill, level) for skill, level in agent.skills.items()],
    )


async def get_agent(connection: asyncpg.Connection, agent_id: str) -> Agent | None:
    record = await connection.fetchrow(_AGENT_SELECT + " WHERE a.agent_id = $1", agent_id)
    return _agent(record) if record else None


async def available_agents(connection: asyncpg.Connection) -> list[Agent]:
    records = await connection.fetch(_AGENT_SELECT + " WHERE a.status = 'available' ORDER BY a.agent_id")
    return [_agent(r) for r in records]


async def set_status(connection: asyncpg.Connection, agent_id: str, status: str) -> bool:
    result = await connection.execute("UPDATE agents SET status = $2 WHERE agent_id = $1", agent_id, status)
    return bool(result == "UPDATE 1")


async def next_assignment_sequence(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT coalesce(max(last_assigned), 0) + 1 FROM agents"))


async def record_assignment(connection: asyncpg.Connection, agent_id: str, sequence: int) -> None:
    await record_assignments(connection, {agent_id: sequence})


async def record_assignments(connection: asyncpg.Connection, last_sequence: Mapping[str, int]) -> None:
    """Each agent's latest assignment sequence, in one statement."""
    await connection.execute(
        """UPDATE agents SET last_assigned = u.sequence
             FROM unnest($1::text[], $2::bigint[]) AS u(agent_id, sequence) WHERE agents.agent_id = u.agent_id""",
        list(last_sequence),
        list(last_sequence.values()),
    )
