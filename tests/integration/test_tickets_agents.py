"""AgentService requests refused over gRPC on real PostgreSQL, each bad field named, nothing written."""

from __future__ import annotations

import grpc
import pytest

from tests.integration.support import field_violations
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
