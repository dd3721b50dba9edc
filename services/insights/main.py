"""Wiring of the insights service: consumers of the event topics, InsightsService, the dashboard."""

from __future__ import annotations

import asyncpg
from loyalty.insights.v1 import insights_pb2, insights_pb2_grpc

from services.common.grpc_server import Registration
from services.common.runtime import ServiceParts
from services.common.settings import ServiceSettings
from services.insights.api import InsightsServicer
from services.insights.application import InsightsApplication
from services.insights.consumers import insights_consumers
from services.insights.dashboard import Dashboard
from services.insights.settings import InsightsSettings, insights_settings


def build(settings: ServiceSettings, pool: asyncpg.Pool, own: InsightsSettings | None = None) -> ServiceParts:
    own = own or insights_settings()
    insights = InsightsApplication(pool, own)
    dashboard = Dashboard(insights, settings.grpc_host, own.dashboard_port)
    return ServiceParts(
        registrations=[
            Registration.of(insights_pb2_grpc, insights_pb2, "InsightsService", InsightsServicer(insights)),
        ],
        consumers=insights_consumers(pool, settings.kafka),
        endpoints=[dashboard] if own.dashboard_port else [],
    )
