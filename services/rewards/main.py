"""Wiring of the rewards service."""

from __future__ import annotations

import asyncpg
from loyalty.rewards.v1 import rewards_pb2, rewards_pb2_grpc

from services.common.member_tiers import member_view_parts
from services.common.runtime import ServiceParts
from services.common.settings import ServiceSettings


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    return member_view_parts(settings, pool, rewards_pb2, rewards_pb2_grpc)
