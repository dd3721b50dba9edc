"""SQL for earning programs: immutable versions, each with an effective-from time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# First key of the two-key advisory lock that serialises applies of one program
# (the second is the hash of its id); apart from the migration runner's one-key lock.
_APPLY_LOCK = 0x50524F


@dataclass(frozen=True)
class ProgramRow:
    program_id: str
    version: int
    effective_from: datetime
    created_at: datetime
    # None when the caller said it already holds this version (see in_force).
    definition: str | None


_COLUMNS = "program_id, version, effective_from, created_at, definition"


def _row(record: asyncpg.Record) -> ProgramRow:
    return ProgramRow(
        record["program_id"], record["version"], record["effective_from"], record["created_at"], record["definition"]
    )


async def lock_program(connection: asyncpg.Connection, program_id: str) -> None:
    """Until the transaction ends: two applies of one program would both pick the same next version."""
    await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _APPLY_LOCK, program_id)


async def latest(connection: asyncpg.Connection, program_id: str) -> ProgramRow | None:
    record = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM programs WHERE program_id = $1 ORDER BY version DESC LIMIT 1", program_id
    )
    return _row(record) if record else None


async def first(connection: asyncpg.Connection, program_id: str) -> ProgramRow | None:
    record = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM programs WHERE program_id = $1 ORDER BY version LIMIT 1", program_id
    )
    return _row(record) if record else None


async def taking_effect_at(connection: asyncpg.Connection, program_id: str, moment: datetime) -> ProgramRow | None:
    record = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM programs WHERE program_id = $1 AND effective_from = $2", program_id, moment
    )
    return _row(record) if record else None


async def insert(
    connection: asyncpg.Connection, program_id: str, version: int, effective_from: datetime, definition: str
) -> ProgramRow:
    record = await connection.fetchrow(
        f"""INSERT INTO programs (program_id, version, effective_from, definition)
            VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",
        program_id,
        version,
        effective_from,
        definition,
    )
    assert record is not None
    return _row(record)


async def in_force(
    connection: asyncpg.Connection, program_id: str, moment: datetime, known_versions: Sequence[int] = ()
) -> ProgramRow | None:
    """The version whose effective_from is the latest at or before `moment`.

    Its definition is left out (None) when its version is in `known_versions`:
    the caller has it parsed already, and pricing asks on every purchase.
    """
    record = await connection.fetchrow(
        """SELECT program_id, version, effective_from, created_at,
                  CASE WHEN version = ANY($3::integer[]) THEN NULL ELSE definition END AS definition
             FROM programs
            WHERE program_id = $1 AND effective_from <= $2
            ORDER BY effective_from DESC
            LIMIT 1""",
        program_id,
        moment,
        list(known_versions),
    )
    return _row(record) if record else None


async def program_ids(connection: asyncpg.Connection, limit: int) -> list[str]:
    records = await connection.fetch("SELECT DISTINCT program_id FROM programs ORDER BY program_id LIMIT $1", limit)
    return [record["program_id"] for record in records]
