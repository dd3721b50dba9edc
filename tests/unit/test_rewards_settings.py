"""Settings the rewards service reads: where points answers, holds, leases and the fault switch. Pure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.settings import SettingsError, service_settings
from services.rewards.settings import rewards_settings


def test_points_is_found_on_its_port_unless_a_target_is_given() -> None:
    assert service_settings("rewards", {}).points_grpc_target == "127.0.0.1:50051"
    assert service_settings("rewards", {"LOYALTY_POINTS_GRPC_PORT": "6001"}).points_grpc_target == "127.0.0.1:6001"
    target = {"LOYALTY_POINTS_GRPC_TARGET": "points.loyalty.svc:50051"}
    assert service_settings("rewards", target).points_grpc_target == "points.loyalty.svc:50051"


def test_rewards_defaults_and_overrides() -> None:
    defaults = rewards_settings({})
    assert (defaults.hold_ttl, defaults.lease, defaults.exit_before_capture) == (
        timedelta(minutes=15),
        timedelta(seconds=30),
        False,
    )
    changed = rewards_settings({"LOYALTY_REWARDS_LEASE_S": "2", "LOYALTY_REWARDS_FAULT_EXIT_BEFORE_CAPTURE": "true"})
    assert (changed.lease, changed.exit_before_capture) == (timedelta(seconds=2), True)


def test_a_hold_must_outlive_the_lease_twice_over() -> None:
    with pytest.raises(SettingsError, match="LOYALTY_REWARDS_HOLD_TTL_S"):
        rewards_settings({"LOYALTY_REWARDS_HOLD_TTL_S": "60", "LOYALTY_REWARDS_LEASE_S": "31"})


def test_a_hold_longer_than_the_points_service_takes_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="at most 2592000"):
        rewards_settings({"LOYALTY_REWARDS_HOLD_TTL_S": str(31 * 24 * 3600)})
    assert rewards_settings({"LOYALTY_REWARDS_HOLD_TTL_S": str(30 * 24 * 3600)}).hold_ttl == timedelta(days=30)
