"""deploy/alerts.yaml: the alerts fire when they should (promtool's rule tests) and read documented metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "alerts.yaml"
ALERT_TESTS = ROOT / "tests" / "alerts" / "alerts_test.yaml"
PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
def test_the_alerts_pass_their_promtool_rule_tests() -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_an_alert_reads_is_in_the_operations_guide() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    read = {name for rule in rules for name in re.findall(r"\bloyalty_[a-z_]+", rule["expr"])}
    guide = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(loyalty_[a-z_]+)` \|", guide, flags=re.MULTILINE))
    assert read and read <= documented, sorted(read - documented)
