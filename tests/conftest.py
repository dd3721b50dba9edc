"""Session fixtures for integration and e2e tests: a real PostgreSQL and a real Kafka-protocol broker.

PostgreSQL is the machine's own at 127.0.0.1:5432 when it answers (override with
LOYALTY_TEST_POSTGRES_URL), else an embedded server in a temporary directory.
The broker is always an embedded Tansu on a free port, so tests never touch a
running `loyalty dev`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from hypothesis import settings as hypothesis_settings

from services.common import settings
from services.common.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    database_url,
    drop_databases,
    ensure_databases,
)
from services.common.kafka import ensure_topics
from services.common.settings import KafkaSettings

# No property test fails for taking long: hypothesis's default deadline (200 ms an example) is a wall-clock
# assertion, which a loaded 2-core machine broke (FlakyFailure, DeadlineExceeded on a pure pricing test).
hypothesis_settings.register_profile("no-deadline", deadline=None)
hypothesis_settings.load_profile("no-deadline")

LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Joins take 1.5 s on the embedded broker; a consumer still has 3 s to answer heartbeats on a busy machine.
TEST_SESSION_TIMEOUT_MS = 3_000

CreateDatabase = Callable[..., Awaitable[str]]


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session")
async def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A URL to a database on a server where the tests may create and drop databases."""
    url = os.environ.get("LOYALTY_TEST_POSTGRES_URL", LOCAL_POSTGRES_URL)
    if await _answers(url):
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-postgres"))
    await server.start()
    try:
        yield server.admin_url
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def create_database(postgres_admin_url: str) -> AsyncIterator[CreateDatabase]:
    """`await create_database()` makes a fresh, empty database and returns its URL.

    Every database made this way is dropped when the session ends.
    """
    created: list[str] = []

    async def create(prefix: str = "loyalty_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        await ensure_databases(postgres_admin_url, [name])
        created.append(name)
        return database_url(postgres_admin_url, name)

    yield create
    await drop_databases(postgres_admin_url, created)


def _kafka_settings(bootstrap: str) -> KafkaSettings:
    # The embedded broker rejects the idempotent producer, and holds a group join for half the session timeout:
    # at the default 10 s, every consumer a test starts would wait 5 s for its partitions.
    return settings.kafka_settings(
        {
            "LOYALTY_KAFKA_BOOTSTRAP": bootstrap,
            "LOYALTY_KAFKA_IDEMPOTENCE": "false",
            "LOYALTY_KAFKA_SESSION_TIMEOUT_MS": str(TEST_SESSION_TIMEOUT_MS),
        }
    )


@pytest.fixture(scope="session")
async def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedBroker]:
    """The session's embedded broker, with every platform topic created.

    A test that kills or restarts it must recreate the topics (`ensure_topics`):
    the broker keeps nothing across a restart.
    """
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log")
    await broker.start()
    try:
        await ensure_topics(_kafka_settings(broker.bootstrap))
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: EmbeddedBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: EmbeddedBroker) -> KafkaSettings:
    return _kafka_settings(kafka_broker.bootstrap)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--faults",
        choices=("short", "full"),
        default=os.environ.get("LOYALTY_FAULTS", "short"),
        help="length of the tests/faults scenarios: short (every run, CI) or full (minutes each; see docs/faults.md)",
    )
