"""Settings only the rewards service reads (the shared ones are in services.common.settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.common.settings import SettingsError, _flag, _integer

# The longest hold the points service takes (HoldPoints' ttl).
_POINTS_MAX_HOLD_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True)
class RewardsSettings:
    # How long a redemption's points stay held uncaptured; the recovery job must finish within it.
    hold_ttl: timedelta
    # How long a redemption in progress belongs to the call that started it before recovery takes over.
    lease: timedelta
    # How often the recovery job finishes or undoes redemptions left pending by a crash.
    recovery_interval_s: int
    # How often the birthday job grants birthday rewards (each at most once a year per member).
    birthday_interval_s: int
    # Fault injection for tests: exit the process after the stock is taken and before the capture.
    exit_before_capture: bool


def rewards_settings(env: Mapping[str, str] = os.environ) -> RewardsSettings:
    hold_ttl_s = _integer(env, "LOYALTY_REWARDS_HOLD_TTL_S", 900, minimum=60)
    lease_s = _integer(env, "LOYALTY_REWARDS_LEASE_S", 30, minimum=1)
    if hold_ttl_s > _POINTS_MAX_HOLD_TTL_S:
        # Points refuses longer holds: every redemption would be refused.
        raise SettingsError(f"LOYALTY_REWARDS_HOLD_TTL_S must be at most {_POINTS_MAX_HOLD_TTL_S} (30 days)")
    if lease_s * 2 > hold_ttl_s:
        # Recovery takes over after the lease; the hold must still be there to capture.
        raise SettingsError(f"LOYALTY_REWARDS_HOLD_TTL_S ({hold_ttl_s}) must be at least twice LOYALTY_REWARDS_LEASE_S")
    return RewardsSettings(
        hold_ttl=timedelta(seconds=hold_ttl_s),
        lease=timedelta(seconds=lease_s),
        recovery_interval_s=_integer(env, "LOYALTY_REWARDS_RECOVERY_INTERVAL_S", 10, minimum=1),
        birthday_interval_s=_integer(env, "LOYALTY_REWARDS_BIRTHDAY_INTERVAL_S", 3600, minimum=1),
        exit_before_capture=_flag(env, "LOYALTY_REWARDS_FAULT_EXIT_BEFORE_CAPTURE", default=False),
    )
