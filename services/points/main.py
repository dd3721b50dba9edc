"""Wiring of the points service."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from loyalty.points.v1 import (
    credits_pb2,
    credits_pb2_grpc,
    partners_pb2,
    partners_pb2_grpc,
    points_pb2,
    points_pb2_grpc,
    program_pb2,
    program_pb2_grpc,
)

from services.common.grpc_server import Registration
from services.common.metrics import POINTS_GAUGES
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings
from services.points.accrual_application import AccrualApplication
from services.points.accrual_cancellation import AccrualCancellations
from services.points.accrual_consumer import PartnerAccrualConsumer
from services.points.api import PointsServicer
from services.points.application import PointsApplication
from services.points.birthdays import BirthdayJob
from services.points.closure import ClosureApplication
from services.points.consumers import purchases_consumer
from services.points.credits_api import CreditLookupServicer
from services.points.expiry import ExpiryJob
from services.points.goodwill import goodwill_consumer
from services.points.ledger_application import LedgerApplication
from services.points.partner_api import PartnerAccrualServicer, PartnerServicer
from services.points.partner_application import PartnerApplication
from services.points.program_api import ProgramServicer
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from services.points.tier_application import RequalificationJob
from services.points.tier_risk import TierAtRiskJob


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    programs = ProgramApplication(pool)
    application = PointsApplication(pool, settings.base_earn_rate, programs)
    refunds = RefundApplication(pool, programs)
    requalification = RequalificationJob(pool, programs)
    accruals = AccrualApplication(pool, programs)
    at_risk = TierAtRiskJob(pool, programs, warn_before=timedelta(days=settings.tier_at_risk_days))
    expiry = ExpiryJob(pool, programs, remind_before=timedelta(days=settings.expiry_reminder_days))
    return ServiceParts(
        registrations=[
            Registration.of(
                points_pb2_grpc,
                points_pb2,
                "PointsService",
                PointsServicer(
                    application, LedgerApplication(pool, programs), refunds, programs, ClosureApplication(pool)
                ),
            ),
            Registration.of(program_pb2_grpc, program_pb2, "ProgramService", ProgramServicer(programs)),
            Registration.of(credits_pb2_grpc, credits_pb2, "CreditLookupService", CreditLookupServicer(pool)),
            Registration.of(
                partners_pb2_grpc, partners_pb2, "PartnerService", PartnerServicer(PartnerApplication(pool))
            ),
            Registration.of(
                partners_pb2_grpc,
                partners_pb2,
                "PartnerAccrualService",
                PartnerAccrualServicer(accruals, AccrualCancellations(pool, programs)),
            ),
        ],
        consumers=[
            purchases_consumer(pool, settings.kafka, application, refunds),
            goodwill_consumer(pool, settings.kafka, programs),
            PartnerAccrualConsumer(pool, settings.kafka, accruals),
        ],
        jobs=[
            PeriodicJob("expiry", settings.expiry_interval_s, expiry.run_once),
            PeriodicJob("tier-requalification", settings.expiry_interval_s, requalification.run_once),
            PeriodicJob("tier-at-risk", settings.expiry_interval_s, at_risk.run_once),
            PeriodicJob("birthday-bonus", settings.expiry_interval_s, BirthdayJob(pool, programs).run_once),
        ],
        gauges=POINTS_GAUGES,
    )
