"""Settings only the notifications service reads (the shared ones are in services.common.settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from services.common.errors import InvalidArgument, Violations
from services.common.settings import SettingsError, _integer
from services.notifications.domain import Defaults, QuietHours, is_time_zone, quiet_hours_from
from services.notifications.templates import DEFAULT_FOLDER

TEMPLATES_DIR_SETTING = "LOYALTY_NOTIFICATIONS_TEMPLATES_DIR"


@dataclass(frozen=True)
class NotificationsSettings:
    # Where the message templates are; the service does not start when one is missing or wrong.
    templates_dir: Path
    # A member gets at most one points-earned summary per period.
    summary_period: timedelta
    # How often the scheduler releases summaries, birthday greetings and messages held by quiet hours.
    scheduler_interval_s: int
    # Time zone and quiet hours of members who never set their own.
    defaults: Defaults


def notifications_settings(env: Mapping[str, str] = os.environ) -> NotificationsSettings:
    time_zone = env.get("LOYALTY_NOTIFICATIONS_TIME_ZONE") or "UTC"
    if not is_time_zone(time_zone):
        raise SettingsError(f"LOYALTY_NOTIFICATIONS_TIME_ZONE must be an IANA time zone, got {time_zone!r}")
    return NotificationsSettings(
        templates_dir=Path(env.get(TEMPLATES_DIR_SETTING) or DEFAULT_FOLDER),
        summary_period=timedelta(seconds=_integer(env, "LOYALTY_NOTIFICATIONS_SUMMARY_PERIOD_S", 86400, minimum=60)),
        scheduler_interval_s=_integer(env, "LOYALTY_NOTIFICATIONS_SCHEDULER_INTERVAL_S", 60, minimum=1),
        defaults=Defaults(time_zone, _quiet_hours(env.get("LOYALTY_NOTIFICATIONS_QUIET_HOURS", "21:00-08:00"))),
    )


def _quiet_hours(raw: str) -> QuietHours | None:
    """'HH:MM-HH:MM', or empty for none."""
    if not raw.strip():
        return None
    start, _, end = raw.strip().partition("-")
    violations = Violations()
    quiet = quiet_hours_from(violations, start.strip(), end.strip(), "quiet_hours")
    try:
        violations.raise_if_any()
    except InvalidArgument:
        message = f"LOYALTY_NOTIFICATIONS_QUIET_HOURS must be HH:MM-HH:MM, or empty for none; got {raw!r}"
        raise SettingsError(message) from None
    return quiet
