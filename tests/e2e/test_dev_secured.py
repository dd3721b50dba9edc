"""`loyalty dev` with tokens required and TLS served: it checks and seeds the services as the CLI calls them."""

from __future__ import annotations

import pytest

from services.common.settings import SERVICE_NAMES
from services.dev_banner import describe
from services.dev_seed import DEMO_MEMBERS
from tests.certificates import self_signed
from tests.e2e.conftest import running_platform

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "dev-e2e-admin-token-0123456789"


async def test_dev_starts_and_seeds_a_platform_that_serves_tls_and_requires_tokens(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> None:
    certificate = self_signed(tmp_path_factory.mktemp("tls"))
    env = {
        "LOYALTY_GRPC_TLS_CERT_FILE": str(certificate.cert_file),
        "LOYALTY_GRPC_TLS_KEY_FILE": str(certificate.key_file),
        "LOYALTY_GRPC_TLS_CA_FILE": str(certificate.cert_file),
        "LOYALTY_AUTH_TOKENS": f"ops:admin:{ADMIN_TOKEN}",
        "LOYALTY_CALLER_TOKEN": ADMIN_TOKEN,
    }
    async with running_platform(tmp_path_factory, postgres_admin_url, env) as platform:
        assert set(platform.demo_balances) == {member[0] for member in DEMO_MEMBERS}
        assert platform.demo_balances[DEMO_MEMBERS[0][0]] > 0
        assert await platform.health("points") == "SERVING"
        banner = describe(platform)
        assert "(TLS)" in banner
        # on_free_ports moved every metrics port: the banner names the ones the services use.
        assert platform.metrics_ports.keys() == set(SERVICE_NAMES)
        assert all(f"{name} {port}" in banner for name, port in platform.metrics_ports.items())
