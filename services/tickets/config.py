"""Settings only the tickets service reads (the README lists them with the others).

Where the points service answers is the shared `ServiceSettings.points_grpc_target`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import SettingsError
from services.tickets.policy import POLICY_FILE_SETTING


@dataclass(frozen=True)
class TicketsSettings:
    # None: the default policy shipped with the service (services/tickets/default_policy.yaml).
    policy_file: Path | None
    sla_interval_s: float


def tickets_settings(env: Mapping[str, str] = os.environ) -> TicketsSettings:
    policy = env.get(POLICY_FILE_SETTING) or None
    raw_interval = env.get("LOYALTY_TICKETS_SLA_INTERVAL_S") or "30"
    try:
        interval = float(raw_interval)
    except ValueError:
        raise SettingsError(f"LOYALTY_TICKETS_SLA_INTERVAL_S must be a number, got {raw_interval!r}") from None
    if interval <= 0:
        raise SettingsError(f"LOYALTY_TICKETS_SLA_INTERVAL_S must be positive, got {interval}")
    return TicketsSettings(policy_file=Path(policy) if policy else None, sla_interval_s=interval)
