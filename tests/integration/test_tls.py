"""TLS with certificates made in the test: the gRPC server, service-to-service calls, the CLI channel, Kafka clients."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.client import points_channel
from services.common.grpc_server import GrpcServer
from services.common.health_cli import check_health
from services.common.settings import GrpcTlsSettings, KafkaSettings, service_settings
from services.common.settings import kafka_settings as read_kafka_settings
from services.common.tls import grpc_channel
from services.points.main import build
from services.tickets.claims import NOT_CREDITED, UNVERIFIED, CreditLookup
from services.tickets.domain import Claim
from tests.certificates import CertificateFiles, self_signed
from tests.integration.support import PoolFactory


@pytest.fixture
def certificate(tmp_path: Path) -> CertificateFiles:
    return self_signed(tmp_path)


@pytest.fixture
async def points_over_tls(
    certificate: CertificateFiles, migrated_pool: PoolFactory, kafka_settings: KafkaSettings
) -> AsyncIterator[str]:
    """The points server with only a certificate and key set; yields `localhost:<port>`."""
    _, pool = await migrated_pool("points")
    env = {
        "LOYALTY_GRPC_TLS_CERT_FILE": str(certificate.cert_file),
        "LOYALTY_GRPC_TLS_KEY_FILE": str(certificate.key_file),
    }
    settings = replace(service_settings("points", env), kafka=kafka_settings)
    server = GrpcServer("127.0.0.1:0", build(settings, pool).registrations, tls=settings.grpc_tls)
    await server.start()
    try:
        yield f"localhost:{server.port}"
    finally:
        await server.stop(grace=1)


async def _health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(response.status)


async def test_a_client_trusting_the_ca_calls_and_a_plaintext_client_cannot(
    points_over_tls: str, certificate: CertificateFiles
) -> None:
    async with grpc_channel(points_over_tls, GrpcTlsSettings(ca_file=str(certificate.cert_file))) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
    async with grpc_channel(points_over_tls, GrpcTlsSettings()) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(plaintext)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_trusting_another_ca_is_refused(points_over_tls: str, tmp_path: Path) -> None:
    (tmp_path / "stranger").mkdir()
    stranger = self_signed(tmp_path / "stranger")
    async with grpc_channel(points_over_tls, GrpcTlsSettings(ca_file=str(stranger.cert_file))) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tickets_verifies_claims_with_points_over_tls(
    points_over_tls: str, certificate: CertificateFiles
) -> None:
    purchase_id = f"order-{uuid.uuid4().hex[:8]}"
    trusted = CreditLookup(points_over_tls, tls=GrpcTlsSettings(ca_file=str(certificate.cert_file)))
    untrusting = CreditLookup(points_over_tls)
    try:
        assert (await trusted.check(Claim(purchase_id, "", "", 0), "m-1")).status == NOT_CREDITED
        assert (await untrusting.check(Claim(purchase_id, "", "", 0), "m-1")).status == UNVERIFIED
    finally:
        await trusted.close()
        await untrusting.close()


async def test_the_cli_channel_uses_the_ca_file_setting(
    points_over_tls: str, certificate: CertificateFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_POINTS_ADDRESS", points_over_tls)
    monkeypatch.setenv("LOYALTY_GRPC_TLS_CA_FILE", str(certificate.cert_file))
    async with points_channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await points_pb2_grpc.PointsServiceStub(channel).GetBalance(pb.GetBalanceRequest(member_id="nobody"))
    # The call reached the service over TLS, which answered for the unknown member.
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_kafka_ssl_trusts_the_ca_file_and_presents_a_client_certificate(tmp_path: Path) -> None:
    ca = self_signed(tmp_path, "broker-ca")
    kafka = read_kafka_settings(
        {
            "LOYALTY_KAFKA_SECURITY_PROTOCOL": "SSL",
            "LOYALTY_KAFKA_SSL_CA_FILE": str(ca.cert_file),
            "LOYALTY_KAFKA_SSL_CERT_FILE": str(ca.cert_file),
            "LOYALTY_KAFKA_SSL_KEY_FILE": str(ca.key_file),
        }
    )
    context = kafka.client_options()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # Only the CA file is trusted, not the system's CAs.
    assert [dict(entry[0] for entry in ca_cert["subject"]) for ca_cert in context.get_ca_certs()] == [
        {"commonName": "broker-ca"}
    ]


async def test_the_health_command_probes_a_tls_server_as_an_exec_probe_would(
    points_over_tls: str, certificate: CertificateFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loopback = points_over_tls.replace("localhost", "127.0.0.1")
    assert (await check_health(on_loopback, server_name=None, timeout_s=5)).startswith("UNAVAILABLE")  # no CA set
    monkeypatch.setenv("LOYALTY_GRPC_TLS_CA_FILE", str(certificate.cert_file))
    assert await check_health(on_loopback, server_name=None, timeout_s=5) == "SERVING"
    assert await check_health(on_loopback, server_name="localhost", timeout_s=5) == "SERVING"
    # The expected name is really checked: one the certificate does not carry is refused.
    assert (await check_health(on_loopback, server_name="points.elsewhere", timeout_s=5)).startswith("UNAVAILABLE")
