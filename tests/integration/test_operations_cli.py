"""`loyalty topics` and `loyalty doctor` against a real broker and real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.doctor import run_doctor
from services.common.embedded import EmbeddedBroker, free_port
from services.common.kafka import ALL_TOPICS, EVENT_TOPICS
from services.common.topics_cli import run_topics
from tests.conftest import CreateDatabase
from tests.integration.support import PoolFactory


@pytest.fixture
async def empty_broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    """A broker of the test's own, with no topics yet."""
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


async def test_topics_creates_what_is_missing_then_checks_partition_counts(
    empty_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", empty_broker.bootstrap)
    monkeypatch.setenv("LOYALTY_KAFKA_PARTITIONS", "3")
    assert await run_topics(check=True) == 1
    assert sorted(_lines(capsys)) == sorted(f"PROBLEM {name}: missing" for name in ALL_TOPICS)

    assert await run_topics(check=False, retention_hours=72) == 0
    lines = _lines(capsys)
    assert sorted(line for line in lines if line.startswith("created")) == sorted(f"created {t}" for t in ALL_TOPICS)
    assert f"ok      {EVENT_TOPICS[0]}: 3 partitions" in lines
    assert f"ok      {EVENT_TOPICS[0]}.dlq: 1 partition" in lines

    # More partitions wanted than the topics have: reported, never changed.
    monkeypatch.setenv("LOYALTY_KAFKA_PARTITIONS", "4")
    assert await run_topics(check=False) == 1
    lines = _lines(capsys)
    assert not any(line.startswith("created") for line in lines)
    assert f"PROBLEM {EVENT_TOPICS[0]}: has 3 partitions, fewer than the 4 wanted" in lines
    assert f"ok      {EVENT_TOPICS[0]}.dlq: 1 partition" in lines


async def test_doctor_reports_each_database_and_the_broker(
    migrated_pool: PoolFactory,
    create_database: CreateDatabase,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    points_url, _ = await migrated_pool("points")
    rewards_url = await create_database()  # reachable, not migrated yet
    tickets_url = points_url.rsplit("/", 1)[0].replace("postgres@", "postgres:doctor-s3cret@") + "/no_such_database"
    for service, url in (("POINTS", points_url), ("REWARDS", rewards_url), ("TICKETS", tickets_url)):
        monkeypatch.setenv(f"LOYALTY_{service}_DATABASE_URL", url)
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("LOYALTY_KAFKA_IDEMPOTENCE", "false")

    assert await run_doctor() == 1
    output = capsys.readouterr().out
    lines = output.splitlines()
    assert "ok      points database: schema up to date" in lines
    assert any(line.startswith("ok      rewards database:") and "migration(s) pending" in line for line in lines)
    assert any(line.startswith("PROBLEM tickets database: cannot connect") for line in lines)
    assert f"ok      broker {kafka_bootstrap}: PLAINTEXT" in lines
    assert all(f"ok      topic {name}:" in output for name in ALL_TOPICS)
    assert "doctor-s3cret" not in output

    dead = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("LOYALTY_KAFKA_BOOTSTRAP", dead)
    monkeypatch.setenv("LOYALTY_TICKETS_DATABASE_URL", points_url)
    # Without a password: its user name shows, not masked as if it were an e-mail address.
    no_password = points_url.rsplit("/", 1)[0] + "/no_such_database"
    monkeypatch.setenv("LOYALTY_REWARDS_DATABASE_URL", no_password)
    assert await run_doctor() == 1
    lines = _lines(capsys)
    assert any(line.startswith(f"PROBLEM rewards database: cannot connect to {no_password}: ") for line in lines)
    assert any(line.startswith(f"PROBLEM broker {dead}: unreachable") for line in lines)
    # The points database has the common migrations, not those of tickets.
    assert any(line.startswith("ok      tickets database:") and "migration(s) pending" in line for line in lines)
