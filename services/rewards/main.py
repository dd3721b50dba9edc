"""Wiring of the rewards service."""

from __future__ import annotations

import logging
import os

import asyncpg
from loyalty.rewards.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    codes_pb2,
    codes_pb2_grpc,
    rewards_pb2,
    rewards_pb2_grpc,
)

from services.common.grpc_server import Registration
from services.common.member_tiers import member_view_parts
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings
from services.rewards.catalog import CatalogApplication
from services.rewards.catalog_api import CatalogServicer
from services.rewards.codes_api import CodesServicer
from services.rewards.codes_application import CodesApplication
from services.rewards.perks import BirthdayJob, perks_consumer
from services.rewards.points_client import PointsClient
from services.rewards.recovery import RecoveryJob
from services.rewards.redemption import RedemptionApplication
from services.rewards.rewards_api import RewardsServicer
from services.rewards.settings import RewardsSettings, rewards_settings

log = logging.getLogger(__name__)
FAULT_EXIT_CODE = 70


def _exit_before_capture() -> None:
    """LOYALTY_REWARDS_FAULT_EXIT_BEFORE_CAPTURE: die like a crash, with points held and stock taken."""
    log.error("fault injection: exiting between the hold and the capture")
    os._exit(FAULT_EXIT_CODE)


def build(settings: ServiceSettings, pool: asyncpg.Pool, options: RewardsSettings | None = None) -> ServiceParts:
    options = options or rewards_settings()
    points = PointsClient(settings.points_grpc_target, settings.grpc_tls)
    before_capture = _exit_before_capture if options.exit_before_capture else (lambda: None)
    redemptions = RedemptionApplication(pool, points, options, before_capture)
    member_view = member_view_parts(settings, pool, rewards_pb2, rewards_pb2_grpc)
    return ServiceParts(
        registrations=[
            *member_view.registrations,
            Registration.of(
                catalog_pb2_grpc, catalog_pb2, "CatalogService", CatalogServicer(CatalogApplication(pool, points))
            ),
            Registration.of(rewards_pb2_grpc, rewards_pb2, "RewardsService", RewardsServicer(redemptions)),
            Registration.of(codes_pb2_grpc, codes_pb2, "CodesService", CodesServicer(CodesApplication(pool))),
        ],
        consumers=[*member_view.consumers, perks_consumer(pool, settings.kafka)],
        jobs=[
            PeriodicJob(
                "redemption-recovery",
                options.recovery_interval_s,
                RecoveryJob(pool, redemptions, options.lease).run_once,
            ),
            PeriodicJob("birthday-rewards", options.birthday_interval_s, BirthdayJob(pool).run_once),
        ],
    )
