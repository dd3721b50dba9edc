"""The command line says in a line, not a traceback, that a broker did not take a message or a policy file is wrong."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from services.cli import main
from services.common.embedded import free_port
from services.common.migrations import migrate
from services.tickets.policy import DEFAULT_POLICY_FILE
from tests.certificates import self_signed

POLICY = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")


def test_a_purchase_via_kafka_with_no_broker_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port('127.0.0.1')}")  # nothing listens there
    assert main(["purchase", "alice", "10.00", "--via", "kafka"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("loyalty: the Kafka broker did not take it") and "Traceback" not in error


def test_a_purchase_via_the_embedded_broker_with_the_idempotent_producer_names_the_setting_to_turn_it_off(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As after `loyalty dev --kafka-port`: a bootstrap set turns the idempotent producer on, which the broker refuses.
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.delenv("LOYALTY_KAFKA_IDEMPOTENCE", raising=False)
    assert main(["purchase", "alice", "10.00", "--via", "kafka"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("loyalty: the Kafka broker did not take it")
    assert "LOYALTY_KAFKA_IDEMPOTENCE=false" in error


@pytest.fixture
async def tickets_database(create_database: Callable[[], Awaitable[str]]) -> str:
    """Migrated already: `serve` then logs nothing before it reads the policy."""
    url = await create_database()
    await migrate(url, "tickets")
    return url


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot be read: No such file or directory"),
        ("", "policy: is required: the tickets policy (docs/tickets.md) as YAML text"),
        (
            POLICY.replace("agent_limit: 500", "agent_limit: -5").replace("priority: high", "priority: asap", 1),
            "sla_policies[0].priority: must be one of low, normal, high, urgent; "
            "goodwill.agent_limit: must be between 0 and 1000000000",
        ),
    ],
    ids=["missing", "empty", "bad-fields"],
)
async def test_serve_tickets_with_a_wrong_policy_file_says_so_in_a_line_naming_it(
    tickets_database: str, tmp_path: Path, content: str | None, said: str
) -> None:
    policy_file = tmp_path / "policy.yaml"
    if content is not None:
        policy_file.write_text(content, encoding="utf-8")
    env = os.environ | {
        "LOYALTY_TICKETS_DATABASE_URL": tickets_database,
        "LOYALTY_TICKETS_POLICY_FILE": str(policy_file),
        "LOYALTY_DATA_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "services.cli", "serve", "tickets"]
    served = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=120)
    assert (served.returncode, served.stderr) == (2, f"loyalty: LOYALTY_TICKETS_POLICY_FILE={policy_file}: {said}\n")


@pytest.mark.parametrize("wrong", ["not-pem", "missing", "other-key"])
async def test_serve_with_wrong_tls_files_says_so_in_a_line_naming_the_setting_before_touching_the_database(
    tmp_path: Path, wrong: str
) -> None:
    # Before, grpc refused the files only when binding, and the service logged that its port was taken.
    certificate = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other = self_signed(tmp_path / "other")
    not_pem = tmp_path / "hostname"
    not_pem.write_text("a-host\n")
    cert_file, key_file, said = {
        "not-pem": (not_pem, not_pem, f"LOYALTY_GRPC_TLS_CERT_FILE={not_pem}: holds no PEM certificate"),
        "missing": (
            certificate.cert_file,
            tmp_path / "missing.key",
            f"LOYALTY_GRPC_TLS_KEY_FILE={tmp_path / 'missing.key'}: cannot be read: No such file or directory",
        ),
        "other-key": (
            certificate.cert_file,
            other.key_file,
            f"LOYALTY_GRPC_TLS_KEY_FILE={other.key_file}: is not the key of the certificate in"
            f" LOYALTY_GRPC_TLS_CERT_FILE={certificate.cert_file}",
        ),
    }[wrong]
    env = os.environ | {
        "LOYALTY_GRPC_TLS_CERT_FILE": str(cert_file),
        "LOYALTY_GRPC_TLS_KEY_FILE": str(key_file),
        "LOYALTY_POINTS_GRPC_PORT": str(free_port()),
        "LOYALTY_DATA_DIR": str(tmp_path),  # no database there: the check must come before migrating
    }
    command = [sys.executable, "-m", "services.cli", "serve", "points"]
    served = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)
    assert (served.returncode, served.stderr) == (2, f"loyalty: {said}\n")
