"""Settings from environment variables: defaults and refusals. Pure, no I/O."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from services.common.settings import (
    DEFAULT_GRPC_PORTS,
    DEFAULT_METRICS_PORTS,
    EMBEDDED_KAFKA_PORT,
    SERVICE_NAMES,
    SettingsError,
    client_address,
    embedded_database_url,
    kafka_settings,
    service_settings,
)

HOME_ENV = {"XDG_DATA_HOME": "/srv/data"}


def test_defaults_run_on_one_machine() -> None:
    settings = service_settings("points", HOME_ENV)
    assert settings.name == "points"
    assert settings.data_dir == Path("/srv/data/loyalty")
    assert settings.database_url == "postgresql://postgres@/loyalty_points?host=%2Fsrv%2Fdata%2Floyalty%2Fpostgres"
    assert settings.grpc_address == f"127.0.0.1:{DEFAULT_GRPC_PORTS['points']}"
    assert settings.log_level == "INFO"
    assert settings.outbox_poll_ms == 200
    assert settings.base_earn_rate == 2
    assert settings.kafka.bootstrap == f"127.0.0.1:{EMBEDDED_KAFKA_PORT}"
    # The default address is the embedded broker, which rejects the idempotent producer.
    assert settings.kafka.idempotence is False
    assert settings.kafka.partitions == 4
    assert settings.kafka.replication_factor == 1
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert settings.kafka.sasl_mechanism is None


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_has_its_own_port_and_database(name: str) -> None:
    settings = service_settings(name, HOME_ENV)
    assert settings.grpc_port == DEFAULT_GRPC_PORTS[name]
    assert f"/loyalty_{name}?" in settings.database_url


def test_distinct_default_ports() -> None:
    assert len(set(DEFAULT_GRPC_PORTS.values())) == len(SERVICE_NAMES) == len(DEFAULT_GRPC_PORTS)
    assert len(set(DEFAULT_METRICS_PORTS.values())) == len(SERVICE_NAMES) == len(DEFAULT_METRICS_PORTS)


def test_environment_overrides_defaults() -> None:
    env = {
        **HOME_ENV,
        "LOYALTY_DATA_DIR": "/var/lib/loyalty",
        "LOYALTY_REWARDS_DATABASE_URL": "postgresql://u@db:5432/rewards",
        "LOYALTY_REWARDS_GRPC_PORT": "6000",
        "LOYALTY_GRPC_HOST": "0.0.0.0",
        "LOYALTY_LOG_LEVEL": "debug",
        "LOYALTY_OUTBOX_POLL_MS": "50",
        "LOYALTY_BASE_EARN_RATE": "0",
        "LOYALTY_KAFKA_BOOTSTRAP": "kafka-1:9092,kafka-2:9092",
        "LOYALTY_KAFKA_IDEMPOTENCE": "false",
        "LOYALTY_KAFKA_PARTITIONS": "12",
        "LOYALTY_KAFKA_REPLICATION_FACTOR": "3",
    }
    settings = service_settings("rewards", env)
    assert settings.data_dir == Path("/var/lib/loyalty")
    assert settings.database_url == "postgresql://u@db:5432/rewards"
    assert settings.grpc_address == "0.0.0.0:6000"
    assert settings.log_level == "DEBUG"
    assert settings.outbox_poll_ms == 50
    assert settings.base_earn_rate == 0
    assert settings.kafka.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka.idempotence is False
    assert (settings.kafka.partitions, settings.kafka.replication_factor) == (12, 3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("False", False),
     ("no", False), ("off", False), ("", True)],
)  # fmt: skip
def test_flags(raw: str, expected: bool) -> None:
    env = {"LOYALTY_KAFKA_BOOTSTRAP": "kafka:9092", "LOYALTY_KAFKA_IDEMPOTENCE": raw}
    assert kafka_settings(env).idempotence is expected


def test_idempotence_is_on_by_default_for_an_external_cluster() -> None:
    assert kafka_settings({"LOYALTY_KAFKA_BOOTSTRAP": "kafka:9092"}).idempotence is True


def test_idempotence_can_be_forced_on_for_the_default_address() -> None:
    assert kafka_settings({"LOYALTY_KAFKA_IDEMPOTENCE": "true"}).idempotence is True


def test_consumers_keep_kafkas_default_session_unless_told_otherwise() -> None:
    assert kafka_settings({}).session_timeout_ms == 10_000
    assert kafka_settings({"LOYALTY_KAFKA_SESSION_TIMEOUT_MS": "6000"}).session_timeout_ms == 6_000


def test_a_session_too_short_to_heartbeat_in_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="LOYALTY_KAFKA_SESSION_TIMEOUT_MS must be at least 1500"):
        kafka_settings({"LOYALTY_KAFKA_SESSION_TIMEOUT_MS": "1000"})


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("LOYALTY_KAFKA_IDEMPOTENCE", "maybe"),
        ("LOYALTY_KAFKA_IDEMPOTENCE", "2"),
        ("LOYALTY_KAFKA_PARTITIONS", "six"),
        ("LOYALTY_KAFKA_PARTITIONS", "0"),
        ("LOYALTY_KAFKA_PARTITIONS", "1.5"),
        ("LOYALTY_KAFKA_REPLICATION_FACTOR", "0"),
        ("LOYALTY_POINTS_GRPC_PORT", "http"),
        ("LOYALTY_POINTS_GRPC_PORT", "0"),
        ("LOYALTY_OUTBOX_POLL_MS", "5"),
        ("LOYALTY_BASE_EARN_RATE", "-1"),
        ("LOYALTY_LOG_LEVEL", "BOGUS"),
        ("LOYALTY_KAFKA_CLIENT_LOG_LEVEL", "LOUD"),
        ("LOYALTY_KAFKA_SECURITY_PROTOCOL", "bogus"),
        ("LOYALTY_KAFKA_SASL_MECHANISM", "FOO"),
    ],
)
def test_bad_values_raise_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        service_settings("points", {**HOME_ENV, variable: raw})
    assert variable in str(caught.value)
    assert repr(raw) in str(caught.value) or raw in str(caught.value)


def test_log_levels_are_read_in_any_case_and_empty_is_the_default() -> None:
    settings = service_settings(
        "points", {**HOME_ENV, "LOYALTY_LOG_LEVEL": "debug", "LOYALTY_KAFKA_CLIENT_LOG_LEVEL": ""}
    )
    assert (settings.log_level, settings.kafka_client_log_level) == ("DEBUG", "CRITICAL")


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"LOYALTY_KAFKA_SASL_MECHANISM": "FOO"}, "LOYALTY_KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256"),
        ({}, "LOYALTY_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs LOYALTY_KAFKA_SASL_MECHANISM"),
        (
            {"LOYALTY_KAFKA_SASL_MECHANISM": "PLAIN", "LOYALTY_KAFKA_SASL_USERNAME": "points"},
            "LOYALTY_KAFKA_SASL_MECHANISM=PLAIN needs LOYALTY_KAFKA_SASL_PASSWORD",
        ),
    ],
    ids=["unknown-mechanism", "no-mechanism", "no-password"],
)
def test_sasl_is_refused_without_a_mechanism_and_credentials_the_client_can_use(env: dict[str, str], said: str) -> None:
    with pytest.raises(SettingsError, match=said):
        kafka_settings({"LOYALTY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", **env})


@pytest.mark.parametrize("url", ["notaurl", "http://u:pw-s3cret@h/d", "postgresql://[::1/d", "/var/run/postgresql"])
def test_a_database_url_that_is_not_a_postgresql_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(SettingsError, match="LOYALTY_POINTS_DATABASE_URL must be a postgresql:// URL") as caught:
        service_settings("points", {**HOME_ENV, "LOYALTY_POINTS_DATABASE_URL": url})
    assert "s3cret" not in str(caught.value)


def test_both_schemes_asyncpg_takes_are_database_urls() -> None:
    for url in ("postgres://u@h/d", "postgresql://u@h1:5432,h2/d"):
        assert service_settings("points", {**HOME_ENV, "LOYALTY_POINTS_DATABASE_URL": url}).database_url == url


def test_unknown_service_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown service 'billing'"):
        service_settings("billing", HOME_ENV)


def test_sasl_options_reach_the_clients_and_the_password_stays_out_of_repr() -> None:
    kafka = kafka_settings(
        {
            "LOYALTY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LOYALTY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LOYALTY_KAFKA_SASL_USERNAME": "points",
            "LOYALTY_KAFKA_SASL_PASSWORD": "s3cret-value",
        }
    )
    options = kafka.client_options()
    # aiokafka refuses SSL without a context; with no CA file it trusts the system's CAs.
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert options == {
        "bootstrap_servers": f"127.0.0.1:{EMBEDDED_KAFKA_PORT}",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "points",
        "sasl_plain_password": "s3cret-value",
    }
    assert "s3cret-value" not in repr(kafka)


def test_client_options_without_sasl() -> None:
    assert kafka_settings({}).client_options() == {
        "bootstrap_servers": f"127.0.0.1:{EMBEDDED_KAFKA_PORT}",
        "security_protocol": "PLAINTEXT",
    }


def test_database_url_stays_out_of_repr() -> None:
    settings = service_settings("points", {**HOME_ENV, "LOYALTY_POINTS_DATABASE_URL": "postgresql://u:pw@h/d"})
    assert "pw@h" not in repr(settings)


def test_embedded_database_url_quotes_the_socket_directory() -> None:
    url = embedded_database_url(Path("/tmp/a b/data"), "loyalty_tickets")
    assert url == "postgresql://postgres@/loyalty_tickets?host=%2Ftmp%2Fa%20b%2Fdata%2Fpostgres"


def test_client_commands_call_a_service_at_its_address_else_at_the_port_it_listens_on() -> None:
    assert client_address("points", {}) == "127.0.0.1:50051"
    assert client_address("points", {"LOYALTY_POINTS_GRPC_PORT": "51051"}) == "127.0.0.1:51051"
    moved = {"LOYALTY_INSIGHTS_GRPC_PORT": "not-read", "LOYALTY_INSIGHTS_ADDRESS": "insights.internal:443"}
    assert client_address("insights", moved) == "insights.internal:443"
