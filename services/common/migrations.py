"""Numbered SQL migrations, applied once per database.

Each component (the shared kit, then the service) has a folder of files named
`NNN_description.sql`. Applied versions are recorded in `schema_migrations`.
A transaction-scoped advisory lock serialises runners, so two processes that
start at once apply each file exactly once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every runner.
_LOCK_KEY = 0x10CA17


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


def discover(component: str, folder: Path) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name {path.name!r} is not NNN_lower_snake.sql")
        migrations.append(Migration(component, int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {folder}")
    # By number, not name: 1000_ sorts before 999_ as text.
    return sorted(migrations, key=lambda migration: migration.version)


def service_migrations(service: str) -> list[Migration]:
    service_folder = Path(__file__).parent.parent / service / "migrations"
    return discover("common", COMMON_MIGRATIONS) + discover(service, service_folder)


async def apply(connection: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is not yet applied, each file in its own transaction; returns the names applied."""
    applied_now: list[str] = []
    for migration in migrations:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await connection.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component  text        NOT NULL,
                       version    integer     NOT NULL,
                       name       text        NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, version))"""
            )
            done = await connection.fetchval(
                "SELECT true FROM schema_migrations WHERE component = $1 AND version = $2",
                migration.component,
                migration.version,
            )
            if done:
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                migration.component,
                migration.version,
                migration.name,
            )
            applied_now.append(f"{migration.component}/{migration.name}")
    if applied_now:
        log.info("migrations applied", extra={"applied": applied_now})
    return applied_now


async def migrate(database_url: str, service: str) -> list[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return await apply(connection, service_migrations(service))
    finally:
        await connection.close()
