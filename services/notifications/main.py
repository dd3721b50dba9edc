"""Wiring of the notifications service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from loyalty.notifications.v1 import notifications_pb2, notifications_pb2_grpc

from services.common.grpc_server import Registration
from services.common.runtime import PeriodicJob, ServiceParts
from services.common.settings import ServiceSettings, SettingsError
from services.notifications.api import NotificationPreferencesServicer
from services.notifications.application import Notifier
from services.notifications.consumers import Clock, NotificationHandlers, notification_consumers
from services.notifications.preferences import PreferencesApplication
from services.notifications.scheduler import SchedulerJob
from services.notifications.settings import TEMPLATES_DIR_SETTING, NotificationsSettings, notifications_settings
from services.notifications.templates import TemplateCatalog, TemplateError, load_templates


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: ServiceSettings, pool: asyncpg.Pool) -> ServiceParts:
    return assemble(settings, pool, notifications_settings())


def assemble(
    settings: ServiceSettings, pool: asyncpg.Pool, own: NotificationsSettings, now: Clock = utc_now
) -> ServiceParts:
    """The service's parts; tests pass their own settings and clock. Templates are checked here: a wrong one
    stops the service at start."""
    notifier = Notifier(_templates(own.templates_dir), own.defaults)
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


def _templates(folder: Path) -> TemplateCatalog:
    """The templates; a wrong one is a SettingsError, which `loyalty serve` reports in one line and exits 2."""
    try:
        return load_templates(folder)
    except TemplateError as error:
        raise SettingsError(f"{TEMPLATES_DIR_SETTING}: {error}") from None
