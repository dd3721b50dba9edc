"""The demo `loyalty dev` seeds calls as the client commands do: with the caller token, over TLS when configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from services.common.auth import authorizer_from
from services.common.embedded import StartupError
from services.common.grpc_server import GrpcServer
from services.common.settings import KafkaSettings, service_settings
from services.dev_seed import DEMO_MEMBERS, SeedingRefused, seed_demo
from services.points.main import build
from tests.certificates import CertificateFiles, self_signed

ADMIN_TOKEN = "dev-seed-admin-token-0123456789"
TOKENS = {"LOYALTY_AUTH_TOKENS": f"ops:admin:{ADMIN_TOKEN}"}


@pytest.fixture
def certificate(tmp_path: Path) -> CertificateFiles:
    return self_signed(tmp_path)


@pytest.fixture
async def secured_points(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, certificate: CertificateFiles
) -> AsyncIterator[str]:
    """The points server requiring tokens and serving TLS only, as `loyalty dev` starts it with those variables."""
    env = TOKENS | {
        "LOYALTY_GRPC_TLS_CERT_FILE": str(certificate.cert_file),
        "LOYALTY_GRPC_TLS_KEY_FILE": str(certificate.key_file),
    }
    settings = replace(service_settings("points", env), kafka=kafka_settings, grpc_port=0)
    server = GrpcServer(
        "127.0.0.1:0",
        build(settings, pool).registrations,
        tls=settings.grpc_tls,
        authorizer=authorizer_from(env),
    )
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(grace=1)


async def test_the_demo_is_seeded_with_the_caller_token_over_tls(
    secured_points: str, certificate: CertificateFiles
) -> None:
    env = {"LOYALTY_GRPC_TLS_CA_FILE": str(certificate.cert_file), "LOYALTY_CALLER_TOKEN": ADMIN_TOKEN}
    balances = await seed_demo(secured_points, env)
    assert set(balances) == {member[0] for member in DEMO_MEMBERS}
    assert balances[DEMO_MEMBERS[0][0]] > 0
    assert await seed_demo(secured_points, env) == balances  # a second run earns nothing twice


async def test_without_a_caller_token_the_refusal_says_which_variable_to_set(
    secured_points: str, certificate: CertificateFiles
) -> None:
    with pytest.raises(SeedingRefused, match="LOYALTY_CALLER_TOKEN is not set") as refused:
        await seed_demo(secured_points, {"LOYALTY_GRPC_TLS_CA_FILE": str(certificate.cert_file)})
    assert isinstance(refused.value, StartupError) and "--no-seed" in str(refused.value)


async def test_a_wrong_caller_token_is_named_as_the_cause(secured_points: str, certificate: CertificateFiles) -> None:
    env = {
        "LOYALTY_GRPC_TLS_CA_FILE": str(certificate.cert_file),
        "LOYALTY_CALLER_TOKEN": "not-a-token-of-the-platform",
    }
    with pytest.raises(SeedingRefused, match="refused LOYALTY_CALLER_TOKEN"):
        await seed_demo(secured_points, env)
