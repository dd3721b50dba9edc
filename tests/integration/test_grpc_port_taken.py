"""A gRPC port another process listens on is refused, never shared.

grpc sets SO_REUSEPORT by default: a second server on a taken port started as if alone, and the kernel split the
calls between the two (each perhaps on another database). A second server must fail to start, naming the port,
and a service (`loyalty serve`, its own process) must exit saying so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from services.common.embedded import log_tail
from services.common.grpc_server import GrpcServer, PortUnavailable
from services.common.settings import KafkaSettings, service_settings
from services.points.main import build
from tests.integration.support import eventually, serve


async def test_a_second_server_on_a_taken_port_is_refused_naming_the_port(
    points_address: str, pool: asyncpg.Pool, kafka_settings: KafkaSettings
) -> None:
    settings = replace(service_settings("points", {}), kafka=kafka_settings)
    port = points_address.rsplit(":", 1)[1]
    with pytest.raises(PortUnavailable, match=f"port {port}"):
        GrpcServer(points_address, build(settings, pool).registrations)


async def test_a_service_whose_grpc_port_is_taken_exits_with_an_error_naming_the_port(
    points_address: str,
    create_database: Callable[[], Awaitable[str]],
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    port = points_address.rsplit(":", 1)[1]  # the in-process points server's
    log_path = tmp_path / "points.log"
    process = serve("points", await create_database(), int(port), kafka_settings, tmp_path)
    try:

        async def exited() -> bool:
            return process.poll() is not None

        try:
            await eventually(exited, within=60, what="points to exit")
        except AssertionError as error:
            raise AssertionError(f"{error}; its log:\n{log_tail(log_path, 20)}") from None
    finally:
        if process.poll() is None:
            process.kill()
        await asyncio.to_thread(process.wait)
    assert process.returncode == 1
    logged = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    errors = [entry for entry in logged if entry["level"] == "ERROR"]
    assert [entry["message"] for entry in errors] == ["service not started: cannot listen on its gRPC port"]
    assert errors[0]["port"] == int(port)
    assert f"port {port}" in errors[0]["error"]
    assert not any(entry["message"] == "service started" for entry in logged)
