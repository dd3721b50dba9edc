"""Tickets settings from the environment: where points answers, the policy file, the SLA job interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError, service_settings
from services.tickets.config import tickets_settings


def test_defaults() -> None:
    settings = tickets_settings({})
    assert (settings.policy_file, settings.sla_interval_s) == (None, 30)


def test_explicit_settings() -> None:
    env = {"LOYALTY_TICKETS_POLICY_FILE": "/etc/loyalty/policy.yaml", "LOYALTY_TICKETS_SLA_INTERVAL_S": "5"}
    settings = tickets_settings(env)
    assert (settings.policy_file, settings.sla_interval_s) == (Path("/etc/loyalty/policy.yaml"), 5)


def test_the_points_target_follows_the_points_port_unless_set() -> None:
    assert service_settings("tickets", {"LOYALTY_POINTS_GRPC_PORT": "6000"}).points_grpc_target == "127.0.0.1:6000"
    explicit = {"LOYALTY_POINTS_GRPC_TARGET": "points.internal:443"}
    assert service_settings("tickets", explicit).points_grpc_target == "points.internal:443"


@pytest.mark.parametrize("interval", ["soon", "0", "-1"])
def test_bad_interval_is_refused(interval: str) -> None:
    with pytest.raises(SettingsError, match="LOYALTY_TICKETS_SLA_INTERVAL_S"):
        tickets_settings({"LOYALTY_TICKETS_SLA_INTERVAL_S": interval})
