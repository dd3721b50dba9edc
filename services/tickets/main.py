"""Wiring of the tickets service."""

from __future__ import annotations

import asyncpg
from loyalty.tickets.v1 import tickets_pb2, tickets_pb2_grpc

from services.common.member_tiers import member_view_parts
from services.common.runtime import ServiceParts
from services.common.settings import ServiceSettings


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    return member_view_parts(settings, pool, tickets_pb2, tickets_pb2_grpc)
