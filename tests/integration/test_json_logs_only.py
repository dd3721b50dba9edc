"""A service's log holds JSON lines only, whatever clients do to its gRPC port.

grpc's C core wrote lines of its own to stderr (`I1207 … ssl_transport_security.cc:2563] Handshake failed …`) for
a plaintext client or a port scan on a TLS port. The service runs as production runs it (`loyalty serve points`,
its own process), serving TLS, with GRPC_VERBOSITY left unset as an operator leaves it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.embedded import LOOPBACK, free_port, log_tail, terminate
from services.common.health_cli import check_health
from services.common.migrations import migrate
from services.common.settings import KafkaSettings
from tests.certificates import self_signed
from tests.integration.support import eventually, serve


async def test_a_plaintext_client_and_a_port_scan_leave_only_json_lines_in_the_log(
    create_database: Callable[[], Awaitable[str]], kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    url = await create_database()
    await migrate(url, "points")
    certificate = self_signed(tmp_path)
    port = free_port()
    address = f"{LOOPBACK}:{port}"
    tls_env = {
        "LOYALTY_GRPC_TLS_CERT_FILE": str(certificate.cert_file),
        "LOYALTY_GRPC_TLS_KEY_FILE": str(certificate.key_file),
        "GRPC_VERBOSITY": "",  # unset for the service (the test's own process sets it when importing services)
    }
    process = serve("points", url, port, kafka_settings, tmp_path, tls_env)
    log_path = tmp_path / "points.log"
    trusting = {"LOYALTY_GRPC_TLS_CA_FILE": str(certificate.cert_file)}

    async def serving() -> bool:
        assert process.poll() is None, f"points exited early:\n{log_tail(log_path, 20)}"
        return await check_health(address, server_name=None, timeout_s=1, env=trusting) == "SERVING"

    try:
        await eventually(serving, within=60, what="points SERVING over TLS")
        await _call_in_plaintext(address)
        await asyncio.to_thread(_scan, port)
        assert await check_health(address, server_name=None, timeout_s=5, env=trusting) == "SERVING"
    finally:
        await terminate(process)
    lines = log_path.read_text().splitlines()
    assert any('"service started"' in line for line in lines)
    not_json = [line for line in lines if not _is_json(line)]
    assert not not_json, "\n".join(not_json)


async def _call_in_plaintext(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.aio.AioRpcError as refused:
            assert refused.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a plaintext call was answered by a TLS server")


def _scan(port: int) -> None:
    """What a port scanner or a misdirected HTTP client sends."""
    with socket.create_connection((LOOPBACK, port), timeout=2) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: scan\r\n\r\n")
        connection.recv(1024)


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
