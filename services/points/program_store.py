"""SQL for earning programs: immutable versions, each with an effective-from time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    # None when the caller said it already holds this version (see in_force_of_named_or_sole).
    definition: str | None


_COLUMNS = "program_id, version, effective_from, created_at, definition"


def _row(record: Mapping[str, Any]) -> ProgramRow:
    return ProgramRow(
        record["program_id"], record["version"], record["effective_from"], record["created_at"], record["definition"]
    )


async def lock_programs(connection: asyncpg.Connection) -> None:
    """Until the transaction ends: two applies would both pick the same next version, or both be the first program."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPLY_LOCK)


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


async def in_force_of_named_or_sole(
    connection: asyncpg.Connection,
    program_id: str | None,
    moments: Sequence[datetime],
    known: Sequence[tuple[str, int]] = (),
    applied_by: Sequence[datetime | None] | None = None,
) -> tuple[int, list[ProgramRow | None]]:
    """`in_force` at each moment in one round trip, for pricing: of `program_id`, or with None of the only program.

    Returns how many programs exist (counted up to 2) and the version in force
    at each moment, in order, among the versions applied by the moment's
    `applied_by` time (when given and not None); a definition is left out
    when (program id, version) is in `known`.
    """
    records = await connection.fetch(
        """WITH ids AS (SELECT DISTINCT program_id FROM programs ORDER BY program_id LIMIT 2)
           SELECT (SELECT count(*) FROM ids) AS programs, p.*
             FROM (SELECT coalesce($1::text, (SELECT min(program_id) FROM ids)) AS program_id) AS chosen
            CROSS JOIN unnest($2::timestamptz[], $5::timestamptz[]) WITH ORDINALITY AS m(moment, applied_by, ord)
             LEFT JOIN LATERAL (
                  SELECT program_id, version, effective_from, created_at,
                         CASE WHEN EXISTS (SELECT 1 FROM unnest($3::text[], $4::integer[]) AS k(id, v)
                                            WHERE k.id = programs.program_id AND k.v = programs.version)
                              THEN NULL ELSE definition END AS definition
                    FROM programs
                   WHERE programs.program_id = chosen.program_id AND effective_from <= m.moment
                     AND (m.applied_by IS NULL OR created_at <= m.applied_by)
                   ORDER BY effective_from DESC
                   LIMIT 1) AS p ON true
            ORDER BY m.ord""",
        program_id,
        list(moments),
        [known_id for known_id, _ in known],
        [version for _, version in known],
        list(applied_by) if applied_by is not None else [None] * len(moments),
    )
    programs = int(records[0]["programs"]) if records else 0
    rows: list[ProgramRow | None] = []
    for record in records:
        fields = dict(record)
        del fields["programs"]
        rows.append(_row(fields) if fields["program_id"] is not None else None)
    return programs, rows


async def program_ids(connection: asyncpg.Connection, limit: int) -> list[str]:
    records = await connection.fetch("SELECT DISTINCT program_id FROM programs ORDER BY program_id LIMIT $1", limit)
    return [record["program_id"] for record in records]
