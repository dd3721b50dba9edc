"""`loyalty doctor`: can each service reach its database, and the broker, with the settings given?

Every check prints one line, `ok` or `PROBLEM` with what is wrong; the command
exits 1 if any check found a problem. Nothing is changed anywhere. Passwords
never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.db import CONNECTION_REFUSED, DATABASE_UNAVAILABLE
from services.common.migrations import NEWER_SCHEMA, schema_state, service_migrations
from services.common.redaction import Redactor
from services.common.settings import SERVICE_NAMES, KafkaSettings, ServiceSettings, kafka_settings, service_settings
from services.common.topics_cli import counted_partitions, topic_states

_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    what: str
    problem: str | None
    detail: str = ""


def add_doctor_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    doctor = commands.add_parser("doctor", help="check the connection to each database and to the broker")
    doctor.set_defaults(run=lambda _: asyncio.run(run_doctor()))


async def check_database(settings: ServiceSettings) -> Finding:
    what = f"{settings.name} database"
    try:
        connection = await asyncpg.connect(settings.database_url, timeout=_TIMEOUT_S)
    except (*CONNECTION_REFUSED, *DATABASE_UNAVAILABLE, asyncpg.PostgresError) as error:
        # The output is redacted: the URL's password never shows.
        return Finding(what, f"cannot connect to {settings.database_url}: {error!r}")
    try:
        state = await schema_state(connection, service_migrations(settings.name))
    finally:
        await connection.close()
    # Services migrate when they start, so pending migrations are a note, not a problem; so is a schema a newer release
    # migrated, which this one runs on (a rollout under way, or a rollback).
    notes = []
    if state.pending:
        notes.append(f"{len(state.pending)} migration(s) pending, applied at the next start or by `loyalty migrate`")
    if state.not_known:
        notes.append(NEWER_SCHEMA % ", ".join(state.not_known))
    return Finding(what, None, "; ".join(notes) or "schema up to date")


async def check_broker(kafka: KafkaSettings) -> list[Finding]:
    what = f"broker {kafka.bootstrap}"
    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=int(_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(admin.start(), _TIMEOUT_S)
        states = await asyncio.wait_for(topic_states(admin, kafka), _TIMEOUT_S)
    except (KafkaError, OSError, TimeoutError) as error:
        return [Finding(what, f"unreachable ({kafka.security_protocol}): {error!r}")]
    finally:
        await admin.close()
    found = [Finding(what, None, f"{kafka.security_protocol}")]
    found += [Finding(f"topic {s.name}", s.problem, counted_partitions(s.partitions or 0)) for s in states]
    return found


async def diagnose() -> list[Finding]:
    checks = [check_database(service_settings(name, os.environ)) for name in SERVICE_NAMES]
    databases = await asyncio.gather(*checks)
    return [*databases, *await check_broker(kafka_settings(os.environ))]


async def run_doctor() -> int:
    """Print a line per check; 1 if any found a problem."""
    # aiokafka logs each failed connection attempt; the broker's finding says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    redact = Redactor(secret for name in SERVICE_NAMES for secret in service_settings(name, os.environ).secrets())
    findings = await diagnose()
    for finding in findings:
        if finding.problem is None:
            print(redact.text(f"ok      {finding.what}: {finding.detail}"))
        else:
            print(redact.text(f"PROBLEM {finding.what}: {finding.problem}"))
    return 1 if any(f.problem for f in findings) else 0
