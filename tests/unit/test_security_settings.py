"""TLS settings of gRPC, the Kafka security protocol and the metrics port, read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import SettingsError, grpc_tls_settings, kafka_settings, service_settings
from tests.certificates import self_signed


def test_grpc_tls_is_off_until_a_certificate_and_key_are_set(tmp_path: Path) -> None:
    assert not service_settings("points", {}).grpc_tls.serves_tls
    ca = str(self_signed(tmp_path).cert_file)
    env = {"LOYALTY_GRPC_TLS_CERT_FILE": "/tls/tls.crt", "LOYALTY_GRPC_TLS_KEY_FILE": "/tls/tls.key"}
    tls = service_settings("points", env | {"LOYALTY_GRPC_TLS_CA_FILE": ca}).grpc_tls
    assert tls.serves_tls
    assert (tls.cert_file, tls.key_file, tls.ca_file) == ("/tls/tls.crt", "/tls/tls.key", ca)


def test_a_ca_file_that_cannot_be_read_or_holds_no_certificate_is_refused_naming_it(tmp_path: Path) -> None:
    missing, not_pem = tmp_path / "missing.crt", tmp_path / "hostname"
    not_pem.write_text("a-host\n")
    with pytest.raises(SettingsError) as refused:
        service_settings("rewards", {"LOYALTY_GRPC_TLS_CA_FILE": str(missing)})
    assert str(refused.value) == f"LOYALTY_GRPC_TLS_CA_FILE={missing}: cannot be read: No such file or directory"
    with pytest.raises(SettingsError) as refused:
        grpc_tls_settings({"LOYALTY_GRPC_TLS_CA_FILE": str(not_pem)})
    assert str(refused.value) == f"LOYALTY_GRPC_TLS_CA_FILE={not_pem}: holds no PEM certificate"


@pytest.mark.parametrize("variable", ["LOYALTY_GRPC_TLS_CERT_FILE", "LOYALTY_GRPC_TLS_KEY_FILE"])
def test_a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused(variable: str) -> None:
    with pytest.raises(SettingsError, match="must be set together"):
        grpc_tls_settings({variable: "/tls/file"})


def test_metrics_ports_differ_per_service_and_zero_disables() -> None:
    ports = {name: service_settings(name, {}).metrics_port for name in ("points", "rewards", "tickets")}
    assert ports == {"points": 9464, "rewards": 9465, "tickets": 9466}
    assert service_settings("rewards", {"LOYALTY_REWARDS_METRICS_PORT": "0"}).metrics_port == 0


def test_plaintext_kafka_gets_no_ssl_context() -> None:
    assert "ssl_context" not in kafka_settings({}).client_options()


@pytest.mark.parametrize(
    "variable", ["LOYALTY_KAFKA_SSL_CA_FILE", "LOYALTY_KAFKA_SSL_CERT_FILE", "LOYALTY_KAFKA_SSL_KEY_FILE"]
)
@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_a_kafka_tls_file_that_cannot_be_read_is_refused_naming_it(
    variable: str, protocol: str, tmp_path: Path
) -> None:
    env = {
        "LOYALTY_KAFKA_SECURITY_PROTOCOL": protocol,
        "LOYALTY_KAFKA_SASL_MECHANISM": "PLAIN",
        "LOYALTY_KAFKA_SASL_USERNAME": "points",
        "LOYALTY_KAFKA_SASL_PASSWORD": "secret",
    }
    missing = tmp_path / "missing.pem"
    with pytest.raises(SettingsError, match=f"^{variable}={missing}: cannot be read: No such file or directory$"):
        kafka_settings(env | {variable: str(missing)})
    with pytest.raises(SettingsError, match=f"^{variable}={tmp_path}: cannot be read: Is a directory$"):
        kafka_settings(env | {variable: str(tmp_path)})


def test_kafka_tls_files_are_not_read_when_the_protocol_uses_no_tls() -> None:
    assert kafka_settings({"LOYALTY_KAFKA_SSL_CA_FILE": "/nonexistent"}).ssl_ca_file == "/nonexistent"
