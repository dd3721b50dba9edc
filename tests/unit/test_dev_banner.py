"""The banner of `loyalty dev`: running a service yourself as it says joins the platform as dev's copy does."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.dev import Platform
from services.dev_banner import describe

TOKEN = "dev-banner-admin-token-0123456789"


def _banner(tmp_path: Path, extra_env: dict[str, str]) -> str:
    platform = Platform(data_dir=tmp_path, extra_env=extra_env)
    platform._admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"  # as once started
    return describe(platform)


def test_the_banner_names_the_token_variables_dev_runs_with_but_not_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOYALTY_AUTH_TOKENS_FILE", raising=False)
    banner = _banner(tmp_path, {"LOYALTY_AUTH_TOKENS": f"ops:admin:{TOKEN}", "LOYALTY_CALLER_TOKEN": TOKEN})
    assert "# and set LOYALTY_AUTH_TOKENS, LOYALTY_CALLER_TOKEN as for dev" in banner
    assert TOKEN not in banner


def test_the_banner_gives_the_metrics_port_and_no_token_line_without_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LOYALTY_AUTH_TOKENS", "LOYALTY_AUTH_TOKENS_FILE", "LOYALTY_CALLER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOYALTY_POINTS_METRICS_PORT", "19464")  # dev's copy serves its metrics there
    banner = _banner(tmp_path, {})
    assert "  export LOYALTY_POINTS_METRICS_PORT=19464\n" in banner
    assert "as for dev" not in banner
