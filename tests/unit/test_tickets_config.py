"""Tickets settings from the environment: where points answers, the policy file, the SLA job interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError
from services.tickets.config import tickets_settings


def test_defaults_follow_the_points_port() -> None:
    settings = tickets_settings({"LOYALTY_POINTS_GRPC_PORT": "6000"})
    assert settings.points_grpc_target == "127.0.0.1:6000"
    assert settings.policy_file is None
    assert settings.sla_interval_s == 30


def test_explicit_settings() -> None:
    settings = tickets_settings(
        {
            "LOYALTY_POINTS_GRPC_TARGET": "points.internal:443",
            "LOYALTY_TICKETS_POLICY_FILE": "/etc/loyalty/policy.yaml",
            "LOYALTY_TICKETS_SLA_INTERVAL_S": "5",
        }
    )
    assert (settings.points_grpc_target, settings.policy_file, settings.sla_interval_s) == (
        "points.internal:443",
        Path("/etc/loyalty/policy.yaml"),
        5,
    )


@pytest.mark.parametrize("interval", ["soon", "0", "-1"])
def test_bad_interval_is_refused(interval: str) -> None:
    with pytest.raises(SettingsError, match="LOYALTY_TICKETS_SLA_INTERVAL_S"):
        tickets_settings({"LOYALTY_TICKETS_SLA_INTERVAL_S": interval})
