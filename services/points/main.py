"""Wiring of the points service."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from loyalty.points.v1 import credits_pb2, credits_pb2_grpc, points_pb2, points_pb2_grpc, program_pb2, program_pb2_grpc

from services.common.grpc_server import Registration
from services.common.metrics import POINTS_GAUGES
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings
from services.points.api import PointsServicer
from services.points.application import PointsApplication
from services.points.birthdays import BirthdayJob
from services.points.consumers import purchases_consumer
from services.points.credits_api import CreditLookupServicer
from services.points.expiry import ExpiryJob
from services.points.goodwill import goodwill_consumer
from services.points.ledger_application import LedgerApplication
from services.points.program_api import ProgramServicer
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from services.points.tier_application import RequalificationJob


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    programs = ProgramApplication(pool)
    application = PointsApplication(pool, settings.base_earn_rate, programs)
    refunds = RefundApplication(pool, programs)
    requalification = RequalificationJob(pool, programs)
    expiry = ExpiryJob(pool, programs, remind_before=timedelta(days=settings.expiry_reminder_days))
    return ServiceParts(
        registrations=[
            Registration(
                points_pb2_grpc.add_PointsServiceServicer_to_server,
                PointsServicer(application, LedgerApplication(pool), refunds, programs),
                points_pb2.DESCRIPTOR.services_by_name["PointsService"].full_name,
            ),
            Registration(
                program_pb2_grpc.add_ProgramServiceServicer_to_server,
                ProgramServicer(programs),
                program_pb2.DESCRIPTOR.services_by_name["ProgramService"].full_name,
            ),
            Registration(
                credits_pb2_grpc.add_CreditLookupServiceServicer_to_server,
                CreditLookupServicer(pool),
                credits_pb2.DESCRIPTOR.services_by_name["CreditLookupService"].full_name,
            ),
        ],
        consumers=[
            purchases_consumer(pool, settings.kafka, application, refunds),
            goodwill_consumer(pool, settings.kafka),
        ],
        jobs=[
            PeriodicJob("expiry", settings.expiry_interval_s, expiry.run_once),
            PeriodicJob("tier-requalification", settings.expiry_interval_s, requalification.run_once),
            PeriodicJob("birthday-bonus", settings.expiry_interval_s, BirthdayJob(pool, programs).run_once),
        ],
        gauges=POINTS_GAUGES,
    )
