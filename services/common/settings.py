"""Settings from environment variables.

Every default runs the platform on one machine against what `loyalty dev`
starts (embedded PostgreSQL under the data directory, the embedded broker on
127.0.0.1:19092). Production sets the `LOYALTY_*` variables instead; the README
lists each one.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiokafka.helpers import create_ssl_context

from services.common.redaction import url_password
from services.common.text_files import unreadable

SERVICE_NAMES = ("points", "rewards", "tickets", "insights", "notifications")
DEFAULT_GRPC_PORTS = {"points": 50051, "rewards": 50052, "tickets": 50053, "insights": 50054, "notifications": 50055}
DEFAULT_METRICS_PORTS = {"points": 9464, "rewards": 9465, "tickets": 9466, "insights": 9467, "notifications": 9468}
EMBEDDED_KAFKA_PORT = 19092
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# The mechanisms that sign in with a user name and password, which is all the platform passes (aiokafka's GSSAPI
# and OAUTHBEARER need a Kerberos service name or a token provider).
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# What logging's setLevel takes by name (WARN and FATAL too: they worked before levels were checked).
LOG_LEVELS = tuple(logging.getLevelNamesMapping())
# asyncpg's schemes: anything else it refuses only when it connects, where it looked like an outage to retry.
DATABASE_URL_SCHEMES = ("postgresql", "postgres")


class SettingsError(ValueError):
    """An environment variable holds a value the platform cannot use."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(env.get("LOYALTY_DATA_DIR", str(Path(base) / "loyalty")))


def embedded_database_url(data_dir: Path, database: str) -> str:
    """The URL of a database on the embedded server, which listens on a socket in its data dir."""
    socket_dir = quote(str(data_dir / "postgres"), safe="")
    return f"postgresql://postgres@/{database}?host={socket_dir}"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def client_address(name: str, env: Mapping[str, str]) -> str:
    """Where a client command calls service `name`: LOYALTY_<NAME>_ADDRESS, else this machine at the port the service
    itself listens on (LOYALTY_<NAME>_GRPC_PORT): a platform moved to other ports is called there without more."""
    prefix = f"LOYALTY_{name.upper()}_"
    if address := env.get(prefix + "ADDRESS"):
        return address
    return f"127.0.0.1:{_integer(env, prefix + 'GRPC_PORT', DEFAULT_GRPC_PORTS[name], minimum=1)}"


def _integer(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _one_of(name: str, value: str, choices: Collection[str]) -> str:
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    """Checked here: logging refuses an unknown level only once the service has started logging."""
    return _one_of(name, (env.get(name) or default).upper(), LOG_LEVELS)


def _readable_file(name: str, path: str) -> str:
    """`path`, once it opens for reading; else SettingsError naming the setting `name` and why."""
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise SettingsError(unreadable(f"{name}={path}", error)) from None
    return path


def check_certificates(subject: str, path: str) -> None:
    """A SettingsError naming `subject` (the setting and its value) unless `path` reads and holds a PEM certificate."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise SettingsError(f"{subject}: holds no PEM certificate") from None
    except OSError as error:
        raise SettingsError(unreadable(subject, error)) from None


def database_setting(service: str) -> str:
    """The variable holding a service's database URL, which messages about the database name."""
    return f"LOYALTY_{service.upper()}_DATABASE_URL"


def _database_url(env: Mapping[str, str], service: str, default: str) -> str:
    name = database_setting(service)
    url = env.get(name) or default
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # an unbalanced [ of an IPv6 host
        scheme = ""
    if scheme not in DATABASE_URL_SCHEMES:
        # Not quoted back: the value may hold a password.
        raise SettingsError(f"{name} must be a postgresql:// URL, as postgresql://user:password@host:5432/database")
    return url


DEFAULT_SESSION_TIMEOUT_MS = 10_000  # aiokafka's and Kafka's default
MIN_SESSION_TIMEOUT_MS = 1_500  # heartbeats every 500 ms at least: a third of it, as Kafka advises


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    # The embedded broker rejects the idempotent producer; a real cluster wants it.
    idempotence: bool
    partitions: int
    replication_factor: int
    security_protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None = field(repr=False)
    # For SSL and SASL_SSL: the CA that signed the brokers' certificates (the system's CAs when unset),
    # and a client certificate and key when the brokers authenticate clients by TLS.
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    # How long a consumer may go silent before the group gives its partitions to another. The embedded broker
    # also holds every group join for half of it, so the test suite, which starts consumers by the hundred,
    # sets it short.
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS

    def client_options(self) -> dict[str, object]:
        """Options every aiokafka client of this platform shares."""
        options: dict[str, object] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in {"SSL", "SASL_SSL"}:
            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_ca_file, certfile=self.ssl_cert_file, keyfile=self.ssl_key_file
            )
        if self.sasl_mechanism:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        return options


@dataclass(frozen=True)
class GrpcTlsSettings:
    """TLS of the gRPC servers (certificate and key) and of their clients (the CA to trust); unset: plaintext."""

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None

    @property
    def serves_tls(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    database_url: str = field(repr=False)
    grpc_host: str
    grpc_port: int
    kafka: KafkaSettings
    data_dir: Path
    log_level: str
    # aiokafka's own logger: silent by default (it logs every reconnect attempt at ERROR during an outage).
    kafka_client_log_level: str
    outbox_poll_ms: int
    # Points per whole currency unit until the program engine makes it data.
    base_earn_rate: int
    # How often the points service expires points and sends expiry reminders.
    expiry_interval_s: int
    expiry_reminder_days: int
    # How long before requalification the points service warns members whose tier is at risk.
    tier_at_risk_days: int
    # Where the points gRPC API answers, for services that call it (rewards holds points).
    points_grpc_target: str
    grpc_tls: GrpcTlsSettings = field(default_factory=GrpcTlsSettings)
    # Where Prometheus scrapes the service's metrics; 0 serves none.
    metrics_port: int = 0
    # How long a consumer remembers an event it applied (services/common/inbox.py): beyond the topics' retention.
    inbox_retention_days: int = 30

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def secrets(self) -> list[str]:
        """The passwords this service was given, which its logs must never show."""
        return [s for s in (url_password(self.database_url), self.kafka.sasl_password) if s]


def _sasl_mechanism(env: Mapping[str, str], protocol: str) -> str | None:
    """The SASL mechanism, required with its user name and password by the SASL protocols (aiokafka asks only
    once a client starts, which in a service is a background task long after startup)."""
    name = "LOYALTY_KAFKA_SASL_MECHANISM"
    mechanism = env.get(name) or None
    if mechanism is not None:
        _one_of(name, mechanism, SASL_MECHANISMS)
    if not protocol.startswith("SASL_"):
        return mechanism
    if mechanism is None:
        raise SettingsError(f"LOYALTY_KAFKA_SECURITY_PROTOCOL={protocol} needs {name} ({', '.join(SASL_MECHANISMS)})")
    missing = [n for n in ("LOYALTY_KAFKA_SASL_USERNAME", "LOYALTY_KAFKA_SASL_PASSWORD") if not env.get(n)]
    if missing:
        raise SettingsError(f"{name}={mechanism} needs {' and '.join(missing)}")
    return mechanism


def _ssl_file(env: Mapping[str, str], name: str, protocol: str) -> str | None:
    """A file of the Kafka clients' TLS, checked readable when the protocol uses TLS (else it is never read)."""
    path = env.get(name) or None
    if path is not None and protocol in {"SSL", "SASL_SSL"}:
        return _readable_file(name, path)
    return path


def kafka_settings(env: Mapping[str, str] = os.environ) -> KafkaSettings:
    bootstrap = env.get("LOYALTY_KAFKA_BOOTSTRAP")
    protocol = _one_of(
        "LOYALTY_KAFKA_SECURITY_PROTOCOL", env.get("LOYALTY_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT", SECURITY_PROTOCOLS
    )
    return KafkaSettings(
        bootstrap=bootstrap or f"127.0.0.1:{EMBEDDED_KAFKA_PORT}",
        # On for a real cluster; the embedded broker (the default address) rejects it.
        idempotence=_flag(env, "LOYALTY_KAFKA_IDEMPOTENCE", default=bool(bootstrap)),
        # 4: what the embedded broker gives a topic it creates on a client's request. After a
        # restart, clients' requests and the services both create the topics at once; with two
        # counts the broker flipped topics between them, and partitions 4 and 5 went (docs/faults.md).
        partitions=_integer(env, "LOYALTY_KAFKA_PARTITIONS", 4, minimum=1),
        replication_factor=_integer(env, "LOYALTY_KAFKA_REPLICATION_FACTOR", 1, minimum=1),
        security_protocol=protocol,
        sasl_mechanism=_sasl_mechanism(env, protocol),
        sasl_username=env.get("LOYALTY_KAFKA_SASL_USERNAME") or None,
        sasl_password=env.get("LOYALTY_KAFKA_SASL_PASSWORD") or None,
        ssl_ca_file=_ssl_file(env, "LOYALTY_KAFKA_SSL_CA_FILE", protocol),
        ssl_cert_file=_ssl_file(env, "LOYALTY_KAFKA_SSL_CERT_FILE", protocol),
        ssl_key_file=_ssl_file(env, "LOYALTY_KAFKA_SSL_KEY_FILE", protocol),
        session_timeout_ms=_integer(
            env, "LOYALTY_KAFKA_SESSION_TIMEOUT_MS", DEFAULT_SESSION_TIMEOUT_MS, minimum=MIN_SESSION_TIMEOUT_MS
        ),
    )


def grpc_tls_settings(env: Mapping[str, str] = os.environ) -> GrpcTlsSettings:
    tls = GrpcTlsSettings(
        cert_file=env.get("LOYALTY_GRPC_TLS_CERT_FILE") or None,
        key_file=env.get("LOYALTY_GRPC_TLS_KEY_FILE") or None,
        ca_file=env.get("LOYALTY_GRPC_TLS_CA_FILE") or None,
    )
    if (tls.cert_file is None) != (tls.key_file is None):
        raise SettingsError("LOYALTY_GRPC_TLS_CERT_FILE and LOYALTY_GRPC_TLS_KEY_FILE must be set together")
    if tls.ca_file is not None:
        # Checked now: read only when a channel opens, a service's first call to another failed on it (rewards
        # answered every redemption as a database outage) and a client command ended in a traceback.
        check_certificates(f"LOYALTY_GRPC_TLS_CA_FILE={tls.ca_file}", tls.ca_file)
    return tls


def service_settings(name: str, env: Mapping[str, str] = os.environ) -> ServiceSettings:
    if name not in SERVICE_NAMES:
        raise SettingsError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
    prefix = f"LOYALTY_{name.upper()}_"
    data_dir = default_data_dir(env)
    return ServiceSettings(
        name=name,
        database_url=_database_url(env, name, embedded_database_url(data_dir, f"loyalty_{name}")),
        grpc_host=env.get("LOYALTY_GRPC_HOST", "127.0.0.1"),
        grpc_port=_integer(env, prefix + "GRPC_PORT", DEFAULT_GRPC_PORTS[name], minimum=1),
        kafka=kafka_settings(env),
        data_dir=data_dir,
        log_level=_log_level(env, "LOYALTY_LOG_LEVEL", "INFO"),
        kafka_client_log_level=_log_level(env, "LOYALTY_KAFKA_CLIENT_LOG_LEVEL", "CRITICAL"),
        outbox_poll_ms=_integer(env, "LOYALTY_OUTBOX_POLL_MS", 200, minimum=10),
        inbox_retention_days=_integer(env, "LOYALTY_INBOX_RETENTION_DAYS", 30, minimum=1),
        base_earn_rate=_integer(env, "LOYALTY_BASE_EARN_RATE", 2, minimum=0),
        expiry_interval_s=_integer(env, "LOYALTY_EXPIRY_INTERVAL_S", 300, minimum=1),
        expiry_reminder_days=_integer(env, "LOYALTY_EXPIRY_REMINDER_DAYS", 30, minimum=0),
        tier_at_risk_days=_integer(env, "LOYALTY_TIER_AT_RISK_DAYS", 30, minimum=1),
        points_grpc_target=env.get("LOYALTY_POINTS_GRPC_TARGET")
        or f"127.0.0.1:{_integer(env, 'LOYALTY_POINTS_GRPC_PORT', DEFAULT_GRPC_PORTS['points'], minimum=1)}",
        grpc_tls=grpc_tls_settings(env),
        metrics_port=_integer(env, prefix + "METRICS_PORT", DEFAULT_METRICS_PORTS[name]),
    )
