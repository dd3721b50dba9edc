"""Wiring of the tickets service."""

from __future__ import annotations

import asyncpg
from loyalty.tickets.v1 import agents_pb2, agents_pb2_grpc, tickets_pb2, tickets_pb2_grpc

from services.common.grpc_server import Registration
from services.common.member_tiers import member_view_parts
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings
from services.tickets.agents_api import AgentServicer
from services.tickets.agents_application import AgentsApplication
from services.tickets.api import TicketsServicer
from services.tickets.application import Clock, TicketsApplication, utc_now
from services.tickets.claims import CreditLookup
from services.tickets.config import TicketsSettings, tickets_settings
from services.tickets.policy import load_policy
from services.tickets.sla_job import SlaJob
from services.tickets.surveys import SurveysApplication


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    return assemble(settings, pool, tickets_settings())


def assemble(settings: ServiceSettings, pool: asyncpg.Pool, own: TicketsSettings, now: Clock = utc_now) -> ServiceParts:
    """The service's parts; tests pass their own settings and clock."""
    policy = load_policy(own.policy_file)
    tickets = TicketsApplication(pool, policy, CreditLookup(settings.points_grpc_target, tls=settings.grpc_tls), now)
    member_view = member_view_parts(settings, pool, tickets_pb2, tickets_pb2_grpc)
    return ServiceParts(
        registrations=[
            *member_view.registrations,
            Registration.of(
                tickets_pb2_grpc, tickets_pb2, "TicketsService", TicketsServicer(tickets, SurveysApplication(pool, now))
            ),
            Registration.of(agents_pb2_grpc, agents_pb2, "AgentService", AgentServicer(AgentsApplication(pool, now))),
        ],
        consumers=member_view.consumers,
        jobs=[PeriodicJob("sla", own.sla_interval_s, SlaJob(pool, policy, now).run_once)],
    )
