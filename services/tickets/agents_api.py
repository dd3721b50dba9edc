"""gRPC servicer for loyalty.tickets.v1.AgentService."""

from __future__ import annotations

from typing import Any

import grpc
from loyalty.tickets.v1 import agents_pb2 as pb
from loyalty.tickets.v1 import agents_pb2_grpc, tickets_pb2

from services.common.errors import Violations
from services.common.proto_enums import enum_value, optional_enum_value, proto_enum
from services.common.proto_time import optional_timestamp
from services.tickets.agents import Agent
from services.tickets.agents_application import AgentChange, AgentsApplication

Context = grpc.aio.ServicerContext[Any, Any]


class AgentServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, agents: AgentsApplication) -> None:
        self._agents = agents

    async def UpsertAgent(self, request: pb.UpsertAgentRequest, context: Context) -> pb.UpsertAgentResponse:
        given = request.agent
        violations = Violations()
        status = optional_enum_value(violations, "agent.status", pb.AgentStatus, given.status) or "away"
        violations.raise_if_any()
        entries = [(s.skill, s.level) for s in given.skills]
        agent = Agent(
            agent_id=given.agent_id,
            display_name=given.display_name,
            skills=dict(entries),
            languages=tuple(given.languages),
            tiers=tuple(given.tiers),
            capacity=given.capacity,
            status=status,
            goodwill_limit=given.goodwill_limit or None,
        )
        change = await self._agents.upsert(agent, entries)
        return pb.UpsertAgentResponse(**_change_fields(change))

    async def SetAgentStatus(self, request: pb.SetAgentStatusRequest, context: Context) -> pb.SetAgentStatusResponse:
        violations = Violations()
        status = enum_value(violations, "status", pb.AgentStatus, request.status)
        change = await self._agents.set_status(request.agent_id, status, violations)
        return pb.SetAgentStatusResponse(**_change_fields(change))

    async def GetAgent(self, request: pb.GetAgentRequest, context: Context) -> pb.GetAgentResponse:
        return pb.GetAgentResponse(agent=agent_message(await self._agents.get(request.agent_id)))

    async def GetQueue(self, request: pb.GetQueueRequest, context: Context) -> pb.GetQueueResponse:
        queue, next_token = await self._agents.queue(request.page_size, request.page_token)
        return pb.GetQueueResponse(
            tickets=[
                pb.QueuedTicket(
                    ticket_id=str(t.ticket_id),
                    member_id=t.member_id,
                    tier=t.tier,
                    required_skill=t.required_skill,
                    language=t.language,
                    priority=proto_enum(tickets_pb2.TicketPriority, t.priority),
                    queued_at=optional_timestamp(t.queued_at),
                )
                for t in queue
            ],
            next_page_token=next_token,
        )


def _change_fields(change: AgentChange) -> dict[str, Any]:
    return {"agent": agent_message(change.agent), "assigned_ticket_ids": change.assigned_ticket_ids}


def agent_message(agent: Agent) -> pb.Agent:
    return pb.Agent(
        agent_id=agent.agent_id,
        display_name=agent.display_name,
        skills=[pb.AgentSkill(skill=skill, level=level) for skill, level in sorted(agent.skills.items())],
        languages=list(agent.languages),
        tiers=list(agent.tiers),
        capacity=agent.capacity,
        status=proto_enum(pb.AgentStatus, agent.status),
        load=agent.load,
        goodwill_limit=agent.goodwill_limit or 0,
    )
