"""Agents refused over gRPC on real PostgreSQL: bad fields of UpsertAgent, and an AssignTicket the agent fails."""

from __future__ import annotations

import uuid

import grpc
import pytest
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from tests.integration.support import field_violations
from tests.integration.test_tickets_grpc import opening
from tests.integration.tickets_fixtures import TicketsPlatform, agent, platform

__all__ = ["platform"]


async def test_an_agents_tier_names_are_checked_as_the_program_names_tiers(platform: TicketsPlatform) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, tiers=("gold", "Gold", "gold ", "", "x" * 33)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    shape = "1-32 of a-z, 0-9, '_', '-'"
    assert field_violations(refused.value) == {
        "agent.tiers[1]": f"'Gold' must be {shape}",
        "agent.tiers[2]": f"'gold ' must be {shape}",
        "agent.tiers[3]": f"is required: {shape}",
        "agent.tiers[4]": f"'{'x' * 33}' must be {shape}",
    }
    assert await platform.pool.fetchval("SELECT count(*) FROM agents") == 0
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, tiers=("gold", "gold")))
    assert field_violations(twice.value) == {"agent.tiers": "must name each tier once"}


async def test_an_agents_language_named_twice_is_refused_as_a_skill_or_tier_named_twice_is(
    platform: TicketsPlatform,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, languages=("en", "en", "en")))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == {"agent.languages": "must name each language once"}
    assert await platform.pool.fetchval("SELECT count(*) FROM agents") == 0
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, languages=("en", "EN", "eng")))
    assert set(field_violations(malformed.value)) == {"agent.languages[1]", "agent.languages[2]"}
    stored = (await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, languages=("en", "de")))).agent
    assert list(stored.languages) == ["en", "de"]


async def test_a_refused_assignment_names_each_condition_the_agent_fails(platform: TicketsPlatform) -> None:
    silver = f"m-{uuid.uuid4().hex[:8]}"
    await platform.set_tier(silver, "silver")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    ticket = (await platform.tickets.OpenTicket(opening(silver))).ticket
    await platform.agents.UpsertAgent(agent("full", {"accounts": 5}, capacity=1))
    await platform.tickets.OpenTicket(opening(silver))  # the most skilled: `full` takes it and is full
    await platform.agents.UpsertAgent(agent("gold-only", {"accounts": 2}, tiers=("gold",)))
    await platform.agents.UpsertAgent(agent("german", {"billing": 4}, languages=("de",), tiers=("gold", "platinum")))
    # Away is the assigning person's call: only what the agent cannot serve, or has no room for, refuses them.
    await platform.agents.UpsertAgent(agent("away", {"accounts": 1}, status=agents_pb.AGENT_STATUS_AWAY))

    async def refusal(agent_id: str) -> str:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await platform.tickets.AssignTicket(pb.AssignTicketRequest(ticket_id=ticket.ticket_id, agent_id=agent_id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        return refused.value.details() or ""

    assert await refusal("full") == "agent_id: agent 'full' cannot take the ticket: has no room (load 1 of 1)"
    assert await refusal("gold-only") == (
        "agent_id: agent 'gold-only' cannot take the ticket: does not serve tier 'silver' (only 'gold')"
    )
    assert await refusal("german") == (
        "agent_id: agent 'german' cannot take the ticket: does not have skill 'accounts'; "
        "does not speak language 'en' (only 'de'); does not serve tier 'silver' (only 'gold', 'platinum')"
    )
    moved = await platform.tickets.AssignTicket(pb.AssignTicketRequest(ticket_id=ticket.ticket_id, agent_id="away"))
    assert moved.ticket.assignee == "away"
