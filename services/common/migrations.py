"""Numbered SQL migrations, applied once per database.

Each component (the shared kit, then the service) has a folder of files named
`NNN_description.sql`. Applied versions are recorded in `schema_migrations`,
by component and number only: no checksum of a file is kept.

A file runs in its own transaction, unless its first line is the marker
`-- migrate: no-transaction`. Such a file runs one statement at a time, each
committed on its own, which `CREATE INDEX CONCURRENTLY` needs: it builds an
index without blocking writes to the table, but cannot run in a transaction.
A crash midway leaves the statements before it done, so every statement of
such a file must be safe to run again (`IF NOT EXISTS`); a concurrent index
build that failed leaves an INVALID index behind, which the runner drops
before building it again. The file is recorded only once every statement
succeeded.

A session-level advisory lock, held for a whole run, serialises runners, so
two processes that start at once apply each file exactly once. Unlike a
transaction's lock it also covers files run outside a transaction, and it
lasts until the session ends: a runner killed mid-build keeps the others out
until its server process has stopped. It has the key the transaction-level
lock of earlier versions took, so those exclude it too. It is polled
(`pg_try_advisory_lock`), never waited on: a runner blocked on the lock keeps
a snapshot open, and `CREATE INDEX CONCURRENTLY` in the runner holding the
lock waits for every older snapshot to end, a deadlock PostgreSQL resolves by
failing one of them.

A database may also have files applied that this code does not have: a newer
release migrated it, and this one runs beside it during a rollout, or again
after a rollback. Migrations only expand the schema, so this release still
starts; it says so (a warning naming them, and `loyalty doctor`), rather than
calling a schema it does not know up to date.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import sqlparse

from services.common.db import connect, unavailable_as_unusable
from services.common.settings import database_setting

log = logging.getLogger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
NO_TRANSACTION = "-- migrate: no-transaction"
_FILE_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every runner.
_LOCK_KEY = 0x10CA17
_LOCK_POLL_FIRST_S = 0.05
_LOCK_POLL_MAX_S = 0.5


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def in_transaction(self) -> bool:
        return self.sql.split("\n", 1)[0].rstrip() != NO_TRANSACTION


def split_statements(sql: str) -> list[str]:
    """The statements of `sql`, comments left out, for running one at a time.

    sqlparse knows not to split on a `;` in a comment, a string, a quoted name
    or a dollar-quoted body (a function's). Unlike PostgreSQL it does not nest
    block comments: a migration run this way must not nest them.
    """
    statements = (sqlparse.format(statement, strip_comments=True) for statement in sqlparse.split(sql))
    return [text for statement in statements if (text := statement.strip().removesuffix(";").strip())]


_IDENTIFIER = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_CREATE_INDEX = re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.IGNORECASE)
_CREATE_INDEX_RERUNNABLE = re.compile(
    rf"""^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?IF\s+NOT\s+EXISTS\s+
         (?P<index>{_IDENTIFIER})\s+ON\s+(?:ONLY\s+)?(?P<table>{_IDENTIFIER}(?:\.{_IDENTIFIER})?)""",
    re.IGNORECASE | re.VERBOSE,
)
_CONCURRENTLY = re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b", re.IGNORECASE)


def _unquoted(identifier: str) -> str:
    """The name PostgreSQL stores for an identifier as written: folded to lower case unless quoted."""
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _check_rerunnable(migration: Migration) -> None:
    """A file run outside a transaction may stop midway and run again: its index builds must allow that."""
    for statement in split_statements(migration.sql):
        if _CREATE_INDEX.match(statement) and not _CREATE_INDEX_RERUNNABLE.match(statement):
            raise ValueError(
                f"{migration.component}/{migration.name} runs outside a transaction: each CREATE INDEX "
                "must name its index and say IF NOT EXISTS, to run again after a failure midway"
            )


def discover(component: str, folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNN_lower_snake.sql")
        migration = Migration(component, int(match.group(1)), path.name, path.read_text())
        if not migration.in_transaction:
            _check_rerunnable(migration)
        migrations.append(migration)
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {folder}")
    # By number, not name: 1000_ sorts before 999_ as text.
    return sorted(migrations, key=lambda migration: migration.version)


def service_migrations(service: str) -> list[Migration]:
    service_folder = Path(__file__).parent.parent / service / "migrations"
    return discover("common", COMMON_MIGRATIONS) + discover(service, service_folder)


@asynccontextmanager
async def _runner_lock(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """Holds the runners' advisory lock for the session, polling for it (see the module's docstring)."""
    wait_s = _LOCK_POLL_FIRST_S
    while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
        if wait_s == _LOCK_POLL_FIRST_S:
            log.info("waiting for another process applying migrations")
        # Jittered: runners that start together would otherwise retry together, and only one would win each time.
        await asyncio.sleep(random.uniform(wait_s / 2, wait_s))
        wait_s = min(wait_s * 2, _LOCK_POLL_MAX_S)
    try:
        yield
    finally:
        # A lost connection has released the lock with its session already.
        if not connection.is_closed():
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _is_applied(connection: asyncpg.Connection, migration: Migration) -> bool:
    done = await connection.fetchval(
        "SELECT true FROM schema_migrations WHERE component = $1 AND version = $2",
        migration.component,
        migration.version,
    )
    return bool(done)


async def _record(connection: asyncpg.Connection, migration: Migration) -> None:
    await connection.execute(
        "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
        migration.component,
        migration.version,
        migration.name,
    )


async def _drop_invalid_index(connection: asyncpg.Connection, statement: str) -> None:
    """Drops the INVALID index a failed concurrent build of `statement` left, so that it is built again.

    IF NOT EXISTS would otherwise keep the leftover: present, never used by queries, and still updated on
    every write.
    """
    match = _CREATE_INDEX_RERUNNABLE.match(statement)
    if match is None:
        return
    invalid = await connection.fetchval(
        """SELECT i.indexrelid::regclass::text
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = to_regclass($1) AND c.relname = $2 AND NOT i.indisvalid""",
        match.group("table"),
        _unquoted(match.group("index")),
    )
    if invalid is not None:
        log.warning("dropping an invalid index a failed build left", extra={"index": invalid})
        await connection.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {invalid}")


async def _apply_in_transaction(connection: asyncpg.Connection, migration: Migration) -> None:
    async with connection.transaction():
        await connection.execute(migration.sql)
        await _record(connection, migration)


async def _apply_statement_by_statement(connection: asyncpg.Connection, migration: Migration) -> None:
    _check_rerunnable(migration)
    for statement in split_statements(migration.sql):
        if _CONCURRENTLY.match(statement):
            await _drop_invalid_index(connection, statement)
        await connection.execute(statement)
    # Only now: a file stopped midway is not applied, and runs again from its first statement.
    await _record(connection, migration)


async def apply(connection: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is not yet applied, each file in its own transaction unless it says otherwise.

    Returns the names applied.
    """
    applied_now: list[str] = []
    async with _runner_lock(connection):
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component  text        NOT NULL,
                   version    integer     NOT NULL,
                   name       text        NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        for migration in migrations:
            if await _is_applied(connection, migration):
                continue
            if migration.in_transaction:
                await _apply_in_transaction(connection, migration)
            else:
                await _apply_statement_by_statement(connection, migration)
            applied_now.append(f"{migration.component}/{migration.name}")
    if applied_now:
        log.info("migrations applied", extra={"applied": applied_now})
    return applied_now


# Read by an operator in the log and in `loyalty doctor`: the files another release applied, by component and name.
NEWER_SCHEMA = "schema is newer than this release: %s not known"


@dataclass(frozen=True)
class SchemaState:
    """How the migrations a database recorded compare with this release's files."""

    # This release's files not applied yet: a start or `loyalty migrate` applies them.
    pending: list[str]
    # Applied for the components of this release, with no file here: a newer release applied them.
    not_known: list[str]


async def schema_state(connection: asyncpg.Connection, migrations: list[Migration]) -> SchemaState:
    """What of `migrations` is pending, and what the database applied that they do not have.

    Only their components count: a database shared with another service holds that one's migrations too.
    """
    recorded: list[asyncpg.Record] = []
    if await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        recorded = await connection.fetch(
            """SELECT component, version, name FROM schema_migrations
                WHERE component = ANY($1::text[]) ORDER BY component, version""",
            sorted({migration.component for migration in migrations}),
        )
    applied = {(r["component"], r["version"]) for r in recorded}
    known = {(migration.component, migration.version) for migration in migrations}
    return SchemaState(
        pending=[f"{m.component}/{m.name}" for m in migrations if (m.component, m.version) not in applied],
        not_known=[f"{r['component']}/{r['name']}" for r in recorded if (r["component"], r["version"]) not in known],
    )


async def _warn_of_a_newer_schema(connection: asyncpg.Connection, migrations: list[Migration]) -> None:
    """A warning naming the files a newer release applied: the service still starts (see the module's docstring)."""
    not_known = (await schema_state(connection, migrations)).not_known
    if not_known:
        log.warning(NEWER_SCHEMA, ", ".join(not_known), extra={"not_known": not_known})


async def migrate(database_url: str, service: str) -> list[str]:
    """Apply the service's pending migrations; names what it applied. Warns of files applied that it does not have.

    A database that cannot be used is a DatabaseUnusable naming the service's setting: DatabaseRefused when
    retrying cannot help, DatabaseUnavailable when it does not answer or takes no work now (a failover).
    """
    setting = database_setting(service)
    with unavailable_as_unusable(database_url, setting):
        connection = await connect(database_url, setting)
        try:
            migrations = service_migrations(service)
            applied = await apply(connection, migrations)
            await _warn_of_a_newer_schema(connection, migrations)
            return applied
        finally:
            await connection.close()
