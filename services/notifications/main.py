"""Wiring of the notifications service."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from loyalty.notifications.v1 import notifications_pb2, notifications_pb2_grpc

from services.common.grpc_server import Registration
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings
from services.notifications.api import NotificationPreferencesServicer
from services.notifications.application import Notifier
from services.notifications.consumers import Clock, NotificationHandlers, notification_consumers
from services.notifications.preferences import PreferencesApplication
from services.notifications.scheduler import SchedulerJob
from services.notifications.settings import NotificationsSettings, notifications_settings
from services.notifications.templates import load_templates


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    return assemble(settings, pool, notifications_settings())


def assemble(
    settings: ServiceSettings, pool: asyncpg.Pool, own: NotificationsSettings, now: Clock = utc_now
) -> ServiceParts:
    """The service's parts; tests pass their own settings and clock. Templates are checked here: a wrong one
    stops the service at start."""
    notifier = Notifier(load_templates(own.templates_dir), own.defaults)
    preferences = PreferencesApplication(pool, notifier, now)
    return ServiceParts(
        registrations=[
            Registration.of(
                notifications_pb2_grpc,
                notifications_pb2,
                "NotificationPreferencesService",
                NotificationPreferencesServicer(preferences),
            )
        ],
        consumers=notification_consumers(pool, settings.kafka, NotificationHandlers(notifier, own, now)),
        jobs=[
            PeriodicJob("notifications-scheduler", own.scheduler_interval_s, SchedulerJob(pool, notifier, now).run_once)
        ],
    )
