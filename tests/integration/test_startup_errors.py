"""A wrong setting, or a database that cannot be used, stops `loyalty serve`, `migrate` and `doctor` in one line.

Settings are checked before anything starts and refused as every setting is: `loyalty: <what is wrong>`, exit 2.
A database that does not exist, or does not answer, ends `serve` with one JSON error line naming the setting
(its stderr stays JSON lines) and a command with one `loyalty:` line, exit 1. Never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from services.common.db import DatabaseUnavailable
from services.common.embedded import free_port, log_tail, terminate
from services.common.migrations import migrate
from services.common.runtime import migrate_with_retry
from services.common.settings import KafkaSettings, service_settings
from tests.conftest import CreateDatabase
from tests.integration.support import serve, started

# Never connected to: every setting here is refused before the database is.
UNUSED_DATABASE = "postgresql://postgres@127.0.0.1:5432/fixh_never_used"


async def _loyalty(*argv: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.cli", *argv]
    run = subprocess.run
    return await asyncio.to_thread(run, command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def _missing_database(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/fixh_no_such_database"


@pytest.mark.parametrize(
    ("command", "env", "said"),
    [
        ("serve", {"LOYALTY_LOG_LEVEL": "BOGUS"}, "LOYALTY_LOG_LEVEL must be one of CRITICAL, "),
        ("serve", {"LOYALTY_KAFKA_CLIENT_LOG_LEVEL": "LOUD"}, "LOYALTY_KAFKA_CLIENT_LOG_LEVEL must be one of "),
        ("serve", {"LOYALTY_KAFKA_SECURITY_PROTOCOL": "bogus"}, "LOYALTY_KAFKA_SECURITY_PROTOCOL must be one of "),
        (
            "serve",
            {"LOYALTY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "LOYALTY_KAFKA_SASL_MECHANISM": "FOO"},
            "LOYALTY_KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, got 'FOO'",
        ),
        (
            "serve",
            {"LOYALTY_KAFKA_SECURITY_PROTOCOL": "SSL", "LOYALTY_KAFKA_SSL_CA_FILE": "/nonexistent"},
            "LOYALTY_KAFKA_SSL_CA_FILE=/nonexistent: cannot be read: No such file or directory",
        ),
        ("serve", {"LOYALTY_POINTS_DATABASE_URL": "notaurl"}, "LOYALTY_POINTS_DATABASE_URL must be a postgresql://"),
        ("migrate", {"LOYALTY_POINTS_DATABASE_URL": "notaurl"}, "LOYALTY_POINTS_DATABASE_URL must be a postgresql://"),
        ("doctor", {"LOYALTY_KAFKA_SECURITY_PROTOCOL": "bogus"}, "LOYALTY_KAFKA_SECURITY_PROTOCOL must be one of "),
        ("serve", {"LOYALTY_AUTH_TOKENS": " , "}, "LOYALTY_AUTH_TOKENS: holds no token entries; unset it to accept"),
        (
            "serve",
            {"LOYALTY_AUTH_TOKENS_FILE": "/nonexistent"},
            "LOYALTY_AUTH_TOKENS_FILE=/nonexistent: cannot be read: No such file or directory",
        ),
        (
            "serve",
            {"LOYALTY_GRPC_TLS_CA_FILE": "/nonexistent"},
            "LOYALTY_GRPC_TLS_CA_FILE=/nonexistent: cannot be read: No such file or directory",
        ),
    ],
    ids=[
        "log-level",
        "kafka-log-level",
        "protocol",
        "sasl",
        "ca-file",
        "url",
        "migrate-url",
        "doctor-protocol",
        "no-tokens",
        "tokens-file",
        "grpc-ca-file",
    ],
)
async def test_a_wrong_setting_is_refused_in_one_line_exit_2(
    command: str, env: dict[str, str], said: str, tmp_path: Path
) -> None:
    argv = [command, "points"] if command != "doctor" else [command]
    env = {"LOYALTY_POINTS_DATABASE_URL": UNUSED_DATABASE, "LOYALTY_DATA_DIR": str(tmp_path), **env}
    ran = await _loyalty(*argv, env=env)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.startswith(f"loyalty: {said}") and ran.stderr.count("\n") == 1, ran.stderr


async def test_a_client_command_with_a_ca_file_that_is_not_there_says_so_in_one_line() -> None:
    # Before, the channel read the file on the first call and the command ended in a FileNotFoundError traceback.
    ran = await _loyalty("balance", "alice", env={"LOYALTY_GRPC_TLS_CA_FILE": "/nonexistent"})
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr == "loyalty: LOYALTY_GRPC_TLS_CA_FILE=/nonexistent: cannot be read: No such file or directory\n"


async def test_serve_on_a_database_that_does_not_exist_logs_one_error_naming_the_setting_and_exits_1(
    create_database: CreateDatabase, tmp_path: Path
) -> None:
    missing = _missing_database(await create_database())
    env = {"LOYALTY_POINTS_DATABASE_URL": missing, "LOYALTY_DATA_DIR": str(tmp_path)}
    ran = await _loyalty("serve", "points", env=env)
    assert ran.returncode == 1
    logged = [json.loads(line) for line in ran.stderr.splitlines()]  # JSON lines only: no traceback
    errors = [entry for entry in logged if entry["level"] == "ERROR"]
    assert [entry["message"] for entry in errors] == ["service not started: cannot use its database"]
    assert errors[0]["setting"] == "LOYALTY_POINTS_DATABASE_URL" and errors[0]["database"] == missing
    assert errors[0]["error"] == 'InvalidCatalogNameError: database "fixh_no_such_database" does not exist'


async def test_migrate_on_a_database_that_does_not_exist_or_does_not_answer_says_so_in_one_line(
    create_database: CreateDatabase, tmp_path: Path
) -> None:
    missing = _missing_database(await create_database())
    ran = await _loyalty("migrate", "points", env={"LOYALTY_POINTS_DATABASE_URL": missing})
    said = f'LOYALTY_POINTS_DATABASE_URL ({missing}): InvalidCatalogNameError: database "fixh_no_such_database"'
    assert (ran.returncode, ran.stderr) == (1, f"loyalty: {said} does not exist\n")

    dead = f"postgresql://postgres:pw-s3cret@127.0.0.1:{free_port('127.0.0.1')}/points"
    ran = await _loyalty("migrate", "points", env={"LOYALTY_POINTS_DATABASE_URL": dead})
    assert ran.returncode == 1 and ran.stderr.count("\n") == 1, ran.stderr
    shown = dead.replace("pw-s3cret", "[redacted]")
    assert ran.stderr.startswith(f"loyalty: LOYALTY_POINTS_DATABASE_URL ({shown}): ConnectionRefusedError: ")


async def test_a_database_that_never_answers_ends_the_retries_naming_the_setting() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port('127.0.0.1')}/points"
    settings = service_settings("points", {"LOYALTY_POINTS_DATABASE_URL": dead})
    with pytest.raises(
        DatabaseUnavailable, match="still unavailable after 2 attempts: ConnectionRefusedError"
    ) as gave_up:
        await migrate_with_retry(settings, attempts=2)
    assert gave_up.value.setting == "LOYALTY_POINTS_DATABASE_URL"


async def test_serve_notifications_with_a_templates_folder_that_does_not_exist_says_so_in_one_line(
    create_database: CreateDatabase, tmp_path: Path
) -> None:
    url = await create_database()
    await migrate(url, "notifications")  # so that `serve` logs nothing before it loads the templates
    env = {
        "LOYALTY_NOTIFICATIONS_DATABASE_URL": url,
        "LOYALTY_NOTIFICATIONS_TEMPLATES_DIR": str(tmp_path / "nope"),
        "LOYALTY_DATA_DIR": str(tmp_path),
    }
    ran = await _loyalty("serve", "notifications", env=env)
    said = f"LOYALTY_NOTIFICATIONS_TEMPLATES_DIR: template folder {tmp_path / 'nope'} does not exist"
    assert (ran.returncode, ran.stderr) == (2, f"loyalty: {said}\n")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def test_insights_whose_dashboard_port_is_taken_serves_on_without_it_logging_why(
    taken_port: int, create_database: CreateDatabase, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    dashboard = {"LOYALTY_INSIGHTS_DASHBOARD_PORT": str(taken_port)}
    process = serve("insights", await create_database(), free_port("127.0.0.1"), kafka_settings, tmp_path, dashboard)
    log_path = tmp_path / "insights.log"
    try:
        await started(process, log_path, "insights")
    finally:
        stopped = await terminate(process)
    assert stopped == 0, log_tail(log_path)
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]  # JSON lines only: no traceback
    errors = [entry for entry in logged if entry["level"] == "ERROR"]
    assert [(e["message"], e["endpoint"], e["port"]) for e in errors] == [
        ("endpoint not started", "dashboard", taken_port)
    ]
    assert "address already in use" in errors[0]["error"]
