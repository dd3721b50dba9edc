"""`loyalty dev`: the whole platform on one machine, and the same thing for the e2e tests.

Starts an embedded PostgreSQL (or uses a given server), the embedded
Kafka-compatible broker, creates databases and topics, runs the services as
separate processes exactly as production runs them (`loyalty serve <name>`),
and seeds a small demo.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common import settings
from services.common.embedded import (
    LOOPBACK,
    EmbeddedBroker,
    EmbeddedPostgres,
    StartupError,
    database_url,
    drop_databases,
    ensure_databases,
    free_port,
    kill,
    log_tail,
    port_is_free,
    spawn,
    terminate,
)
from services.common.health_cli import check_health
from services.common.kafka import ensure_topics
from services.common.settings import SERVICE_NAMES, GrpcTlsSettings, KafkaSettings, SettingsError
from services.common.telemetry import log_line
from services.dev_banner import describe
from services.dev_seed import SeedingRefused, seed_demo
from services.dev_supervision import supervise
from services.insights.settings import insights_settings

SERVICE_STOP_GRACE_S = 10.0


@dataclass
class Platform:
    """Everything `loyalty dev` runs, with the controls the e2e tests need to break it."""

    data_dir: Path
    kafka_port: int = settings.EMBEDDED_KAFKA_PORT
    grpc_ports: dict[str, int] = field(default_factory=lambda: dict(settings.DEFAULT_GRPC_PORTS))
    # A server URL (any database, usually `postgres`) to use instead of the embedded server.
    postgres_admin_url: str | None = None
    # Lets several platforms share one external server without sharing databases.
    database_prefix: str = ""
    # Drop the databases on stop(); only honoured for an external server.
    drop_databases_on_stop: bool = False
    seed: bool = True
    # More LOYALTY_* variables for every service, e.g. a faster outbox poll in tests.
    extra_env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 60.0
    demo_balances: dict[str, int] = field(default_factory=dict, init=False)
    # Why the demo was not seeded when the points service refused the demo's caller token (the platform runs on).
    seed_refused: str | None = field(default=None, init=False)
    _admin_url: str | None = field(default=None, init=False, repr=False)
    _postgres: EmbeddedPostgres | None = field(default=None, init=False, repr=False)
    _broker: EmbeddedBroker | None = field(default=None, init=False, repr=False)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False, repr=False)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, init=False, repr=False)

    @classmethod
    def on_free_ports(cls, data_dir: Path, extra_env: dict[str, str] | None = None, **options: Any) -> Platform:
        """A platform whose every port (broker, gRPC, metrics, dashboard) is a free one: beside another platform."""
        free_ports = {f"LOYALTY_{name.upper()}_METRICS_PORT": str(free_port()) for name in SERVICE_NAMES}
        free_ports["LOYALTY_INSIGHTS_DASHBOARD_PORT"] = str(free_port())
        return cls(
            data_dir=data_dir,
            kafka_port=free_port(),
            grpc_ports={name: free_port() for name in SERVICE_NAMES},
            extra_env=free_ports | (extra_env or {}),
            **options,
        )

    # -- where things are ---------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def log_path(self, name: str) -> Path:
        """The log of a service, or of the broker for `broker`."""
        return self.log_dir / f"{name}.log"

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        return self._postgres

    @property
    def kafka_bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.kafka_port}"

    @property
    def kafka_settings(self) -> KafkaSettings:
        return settings.kafka_settings(self._kafka_env() | self.extra_env)

    def grpc_address(self, service: str) -> str:
        return f"{LOOPBACK}:{self.grpc_ports[service]}"

    @property
    def dashboard_port(self) -> int:
        """The insights dashboard's port (LOYALTY_INSIGHTS_DASHBOARD_PORT); 0 when it is off."""
        return insights_settings(os.environ | self.extra_env).dashboard_port

    @property
    def metrics_ports(self) -> dict[str, int]:
        """Each service's Prometheus port (LOYALTY_<SERVICE>_METRICS_PORT), leaving out those turned off (0)."""
        env = self.client_env
        ports = {name: settings.service_settings(name, env).metrics_port for name in SERVICE_NAMES}
        return {name: port for name, port in ports.items() if port}

    @property
    def dashboard_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}/"

    def database_name(self, service: str) -> str:
        return f"{self.database_prefix}loyalty_{service}"

    def database_url(self, service: str) -> str:
        if self._admin_url is None:
            raise RuntimeError("the platform is not started")
        return database_url(self._admin_url, self.database_name(service))

    def env_for(self, service: str) -> dict[str, str]:
        """The LOYALTY_* variables that make `loyalty serve <service>` join this platform."""
        if service not in SERVICE_NAMES:
            raise ValueError(f"unknown service {service!r}")
        env = {f"LOYALTY_{name.upper()}_DATABASE_URL": self.database_url(name) for name in SERVICE_NAMES}
        env |= {f"LOYALTY_{name.upper()}_GRPC_PORT": str(self.grpc_ports[name]) for name in SERVICE_NAMES}
        env |= self._kafka_env() | {"LOYALTY_DATA_DIR": str(self.data_dir)}
        return env | self.extra_env

    @property
    def client_env(self) -> dict[str, str]:
        """The environment dev's own calls (health checks, the demo) read TLS and the caller token from,
        as the `loyalty` client commands do: the process's, with `extra_env` over it, as the services see it."""
        return dict(os.environ) | self.extra_env

    @property
    def grpc_tls(self) -> GrpcTlsSettings:
        try:
            return settings.grpc_tls_settings(self.client_env)
        except SettingsError as error:
            raise StartupError(str(error)) from error

    def _kafka_env(self) -> dict[str, str]:
        return {"LOYALTY_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "LOYALTY_KAFKA_IDEMPOTENCE": "false"}

    # -- whole platform -----------------------------------------------------------------

    async def start(self) -> None:
        """Start everything; on any failure (or cancellation) stop what was started and re-raise."""
        self._check_ports_free()
        self._check_tls()
        try:
            await self._start_databases()
            await self._start_kafka()
            self._stack.push_async_callback(self._stop_services)
            await self._start_services(SERVICE_NAMES)
            if self.seed:
                try:
                    self.demo_balances = await self.seed_demo()
                except SeedingRefused as refused:
                    self.seed_refused = str(refused)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Services first (they drain to the broker and database), then the broker, then PostgreSQL."""
        await self._stack.aclose()

    def _check_ports_free(self) -> None:
        wanted = {f"gRPC ({name})": port for name, port in self.grpc_ports.items()}
        wanted["Kafka"] = self.kafka_port
        if self.dashboard_port:
            wanted["insights dashboard"] = self.dashboard_port
        busy = [f"{what} port {port}" for what, port in wanted.items() if not port_is_free(port)]
        if busy:
            raise StartupError(
                f"already in use: {', '.join(busy)}; is another `loyalty dev` running? "
                "Stop it, or choose other ports (--kafka-port, LOYALTY_<SERVICE>_GRPC_PORT)."
            )

    def _check_tls(self) -> None:
        if self.grpc_tls.serves_tls and self.grpc_tls.ca_file is None:
            raise StartupError(
                "LOYALTY_GRPC_TLS_CERT_FILE is set, so the services serve TLS only, but LOYALTY_GRPC_TLS_CA_FILE"
                " is not: loyalty dev checks and seeds the services as the `loyalty` commands call them, trusting"
                " that CA. Set it (a self-signed certificate is its own CA)."
            )

    async def _start_databases(self) -> None:
        if self.postgres_admin_url is None:
            self._postgres = EmbeddedPostgres(self.data_dir)
            self._stack.push_async_callback(self._postgres.stop)
            await self._postgres.start()
            self._admin_url = self._postgres.admin_url
        else:
            self._admin_url = self.postgres_admin_url
        names = [self.database_name(name) for name in SERVICE_NAMES]
        if self.postgres_admin_url is not None and self.drop_databases_on_stop:
            self._stack.push_async_callback(drop_databases, self._admin_url, names)
        await ensure_databases(self._admin_url, names)

    async def _start_kafka(self) -> None:
        self._broker = EmbeddedBroker(self.kafka_port, self.log_path("broker"))
        self._stack.push_async_callback(self._broker.stop)
        await self.start_broker()

    # -- the broker, for fault tests -----------------------------------------------------

    def _require_broker(self) -> EmbeddedBroker:
        if self._broker is None:
            raise RuntimeError("the platform is not started")
        return self._broker

    async def start_broker(self, *, create_topics: bool = True) -> None:
        """Start the broker and create the topics (it forgets them when it stops).

        `create_topics=False` leaves it empty, as an operator restarting it would:
        the services must re-create what they need themselves.
        """
        await self._require_broker().start()
        if create_topics:
            await ensure_topics(self.kafka_settings)

    async def stop_broker(self) -> None:
        await self._require_broker().stop()

    async def kill_broker(self) -> None:
        await self._require_broker().kill()

    async def restart_broker(self, down_for_s: float = 0.0) -> None:
        await self.stop_broker()
        await asyncio.sleep(down_for_s)
        await self.start_broker()

    # -- PostgreSQL, for fault tests ----------------------------------------------------------

    async def restart_postgres(self, down_for_s: float = 0.0) -> None:
        """Stop the embedded PostgreSQL (fast: open sessions are cut), wait, start it again."""
        if self._postgres is None:
            raise RuntimeError("only the embedded PostgreSQL can be restarted; this platform uses a given server")
        await self._postgres.stop()
        await asyncio.sleep(down_for_s)
        await self._postgres.start()

    # -- services --------------------------------------------------------------------------

    def service_pid(self, name: str) -> int | None:
        """The process id of a running service, to sample its memory or pause it."""
        process = self._processes.get(name)
        return process.pid if process is not None and process.poll() is None else None

    def service_running(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def exited_services(self) -> dict[str, int]:
        """The services, and `broker`, that exited on their own (not stopped or killed through this platform)."""
        exited = {name: code for name, process in self._processes.items() if (code := process.poll()) is not None}
        if self._broker is not None and (code := self._broker.exit_code()) is not None:
            exited["broker"] = code
        return exited

    async def start_service(self, name: str) -> None:
        """Start one service (again) and wait until it reports SERVING; `broker` starts the broker with its topics."""
        if name == "broker":
            await self.start_broker()
            return
        await self._start_services([name])

    async def stop_service(self, name: str, grace_s: float = SERVICE_STOP_GRACE_S) -> int | None:
        """SIGTERM (graceful shutdown), SIGKILL after `grace_s`; returns the exit code."""
        process = self._processes.pop(name, None)
        return None if process is None else await terminate(process, grace_s)

    async def kill_service(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int | None:
        """Send `sig` (SIGKILL by default, a crash) and wait for the process to exit."""
        process = self._processes.pop(name, None)
        return None if process is None else await kill(process, sig)

    async def _stop_services(self) -> None:
        await asyncio.gather(*(self.stop_service(name) for name in list(self._processes)))

    async def _start_services(self, names: Sequence[str]) -> None:
        # Spawn all before waiting on any: they start in parallel, so startup takes the slowest, not the sum.
        started = {name: self._spawn_service(name) for name in names if not self.service_running(name)}
        deadline = time.monotonic() + self.startup_timeout_s
        for name, process in started.items():
            await self._wait_serving(name, process, deadline)

    def _spawn_service(self, name: str) -> subprocess.Popen[bytes]:
        log_path = self.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as log:
            # A JSON line like the service's own: the log is documented (and shipped) as JSON lines.
            log.write(log_line(name, "loyalty.dev", f"loyalty dev: starting {name}"))
        # Unbuffered, so the log is current when a test or a person reads it.
        env = os.environ | self.env_for(name) | {"PYTHONUNBUFFERED": "1"}
        process = spawn([sys.executable, "-m", "services.cli", "serve", name], log_path, env)
        self._processes[name] = process
        return process

    async def health(self, name: str, timeout_s: float = 1.0) -> str:
        """A service's health status (SERVING, ...) or why it did not answer, checked as `loyalty health` checks:
        over TLS when LOYALTY_GRPC_TLS_CA_FILE is set, with LOYALTY_CALLER_TOKEN when set."""
        return await check_health(self.grpc_address(name), server_name=None, timeout_s=timeout_s, env=self.client_env)

    async def _wait_serving(self, name: str, process: subprocess.Popen[bytes], deadline: float) -> None:
        while True:
            if process.poll() is not None:
                raise StartupError(self._failure(name, f"exited with code {process.returncode}"))
            status = await self.health(name)  # not listening yet, or still migrating, until SERVING
            if status == "SERVING":
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    self._failure(name, f"not SERVING after {self.startup_timeout_s:.0f}s (last check: {status})")
                )
            await asyncio.sleep(0.2)

    def _failure(self, name: str, what: str) -> str:
        path = self.log_path(name)
        return f"service {name} {what}; last lines of {path}:\n{log_tail(path)}"

    # -- demo data ---------------------------------------------------------------------------

    async def seed_demo(self) -> dict[str, int]:
        """Enroll the demo members and record one purchase; returns each member's balance."""
        return await seed_demo(self.grpc_address("points"), self.client_env)


# -- the command ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty dev", description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=settings.default_data_dir(os.environ),
        help="where PostgreSQL data and logs live, kept between runs (default: %(default)s)",
    )
    parser.add_argument("--kafka-port", type=int, default=settings.EMBEDDED_KAFKA_PORT, help="default: %(default)s")
    parser.add_argument("--no-seed", dest="seed", action="store_false", help="do not create the demo data")
    return parser


async def _run(platform: Platform) -> int:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)
    starting = asyncio.create_task(platform.start())
    waiting = asyncio.create_task(stop_requested.wait())
    try:
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            print("loyalty dev: interrupted while starting; stopping", file=sys.stderr)
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return 130
        starting.result()
        print(describe(platform), flush=True)
        supervising = asyncio.create_task(supervise(platform))
        try:
            await waiting
        finally:
            supervising.cancel()
            await asyncio.gather(supervising, return_exceptions=True)
        print("\nloyalty dev: stopping", file=sys.stderr)
        return 0
    except StartupError as error:
        print(f"loyalty dev: {error}", file=sys.stderr)
        return 1
    finally:
        waiting.cancel()
        await platform.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Honour LOYALTY_<SERVICE>_GRPC_PORT, so a busy default port can be moved without a flag per service.
    grpc_ports = {name: settings.service_settings(name, os.environ).grpc_port for name in SERVICE_NAMES}
    platform = Platform(
        data_dir=args.data_dir.expanduser().resolve(),
        kafka_port=args.kafka_port,
        grpc_ports=grpc_ports,
        seed=args.seed,
    )
    return asyncio.run(_run(platform))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
