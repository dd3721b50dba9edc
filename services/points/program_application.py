"""Program use cases: apply a definition as the next version; find the version in force at a moment.

Versions are immutable and ordered by effective_from, which only grows: a new
version must take effect after the latest one, so the history purchases were
priced by is never rewritten. Applying the exact text of a stored version
again returns it unchanged (a re-run of the same `loyalty program apply` is
harmless); a different definition at the same effective_from is refused. A
version may take effect in the past: it then prices only purchases recorded
after it is applied (late events included), never re-prices recorded ones.

A points service runs one program (every version has its id): a purchase
names no program, so a second one would leave it nothing to be priced by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.points import program_store
from services.points.program import Program
from services.points.program_schema import PROGRAM_ID_PATTERN, parse_program


class ApplyOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    VALIDATED = "validated"


@dataclass(frozen=True)
class ProgramVersion:
    program: Program
    version: int
    # None when not stored (a dry run).
    created_at: datetime | None
    # The YAML text as applied.
    definition: str

    @property
    def program_id(self) -> str:
        return self.program.id

    @property
    def effective_from(self) -> datetime:
        return self.program.effective_from


@dataclass(frozen=True)
class ApplyResult:
    version: ProgramVersion
    outcome: ApplyOutcome


class ProgramApplication:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        # Versions never change, so one parsed stays right for the life of the process;
        # pricing then reads only a version number per purchase.
        self._known: dict[tuple[str, int], ProgramVersion] = {}

    async def apply(self, definition: str, *, dry_run: bool = False) -> ApplyResult:
        """Store `definition` as its program's next version (or only check it, with `dry_run`)."""
        program = parse_program(definition)
        async with unit_of_work(self._pool) as connection:
            await program_store.lock_programs(connection)
            await _refuse_a_second_program(connection, program.id)
            same_start = await program_store.taking_effect_at(connection, program.id, program.effective_from)
            if same_start is not None:
                return self._same_start(same_start, program, definition)
            latest = await program_store.latest(connection, program.id)
            if latest is not None and latest.effective_from > program.effective_from:
                raise FailedPrecondition(
                    f"effective_from: must be after {latest.effective_from.isoformat()}, when version"
                    f" {latest.version} of program {program.id!r} takes effect: history is never rewritten"
                )
            version = latest.version + 1 if latest else 1
            if dry_run:
                return ApplyResult(ProgramVersion(program, version, None, definition), ApplyOutcome.VALIDATED)
            row = await program_store.insert(connection, program.id, version, program.effective_from, definition)
        stored = ProgramVersion(program, row.version, row.created_at, definition)
        self._known[(program.id, row.version)] = stored
        return ApplyResult(stored, ApplyOutcome.CREATED)

    def _same_start(self, row: program_store.ProgramRow, program: Program, definition: str) -> ApplyResult:
        if row.definition != definition:
            raise AlreadyExists(
                f"effective_from: version {row.version} of program {program.id!r} already takes effect at"
                f" {row.effective_from.isoformat()}; apply the change with a later effective_from"
            )
        return ApplyResult(ProgramVersion(program, row.version, row.created_at, definition), ApplyOutcome.UNCHANGED)

    async def in_force(self, program_id: str, at: datetime) -> ProgramVersion:
        """The version in force at `at`; an empty `program_id` means the only program there is."""
        if program_id and not PROGRAM_ID_PATTERN.fullmatch(program_id):
            raise InvalidArgument.single("program_id", "must be 1-64 of a-z, 0-9, '.', '_', '-'")
        async with self._pool.acquire() as connection:
            chosen = program_id or await self._sole_program_id(connection)
            if not chosen:
                raise NotFound("program_id: no program has been applied yet")
            found = await self.in_force_in(connection, chosen, at)
            if found is None:
                raise await _not_in_force(connection, chosen, at)
        return found

    async def in_force_in(
        self, connection: asyncpg.Connection, program_id: str | None, at: datetime
    ) -> ProgramVersion | None:
        """The version of a program in force at `at`, in the caller's transaction (pricing a purchase).

        With `program_id` None: the only program there is. None when there is
        no such program or it had not taken effect at `at`; FailedPrecondition
        when `program_id` is None and several programs exist.
        """
        (found,) = await self.in_force_at_each(connection, program_id, [at])
        return found

    async def term_of_credit(self, connection: asyncpg.Connection, earned_at: datetime) -> datetime | None:
        """When points credited by hand at `earned_at` (an adjustment, goodwill) expire: the fixed term of the
        version in force then, as for any points earned then; None without a program or a term."""
        version = await self.in_force_in(connection, None, earned_at)
        return version.program.expires_at(earned_at) if version else None

    async def in_force_at_each(
        self,
        connection: asyncpg.Connection,
        program_id: str | None,
        moments: Sequence[datetime],
        applied_by: Sequence[datetime | None] | None = None,
    ) -> list[ProgramVersion | None]:
        """`in_force_in` at each of `moments`, in one round trip: pricing asks for every purchase. With
        `applied_by`, each moment's version is chosen among those applied by then (what priced a purchase)."""
        if not moments:
            return []
        programs, rows = await program_store.in_force_of_named_or_sole(
            connection, program_id or None, moments, list(self._known), applied_by
        )
        if not program_id and programs > 1:
            raise FailedPrecondition("program_id: several programs exist; name one")
        return [
            None if row is None else self._known.get((row.program_id, row.version)) or self._remember(row)
            for row in rows
        ]

    def _remember(self, row: program_store.ProgramRow) -> ProgramVersion:
        assert row.definition is not None
        try:
            program = parse_program(row.definition, stored=True)
        except InvalidArgument as error:
            # Not the caller's fault: stored definitions must stay readable as the schema evolves.
            raise RuntimeError(
                f"stored program {row.program_id!r} version {row.version} no longer parses: {error}"
            ) from error
        version = ProgramVersion(program, row.version, row.created_at, row.definition)
        self._known[(row.program_id, row.version)] = version
        return version

    async def _sole_program_id(self, connection: asyncpg.Connection) -> str | None:
        ids = await program_store.program_ids(connection, limit=2)
        if len(ids) > 1:
            raise FailedPrecondition("program_id: several programs exist; name one")
        return ids[0] if ids else None


async def _refuse_a_second_program(connection: asyncpg.Connection, program_id: str) -> None:
    """A points service runs one program: purchases, enrolments and activities name none, so two would leave
    each of them without a program to price it."""
    existing = await program_store.program_ids(connection, limit=1)
    if existing and existing[0] != program_id:
        raise FailedPrecondition(
            f"id: this points service runs program {existing[0]!r}; apply {program_id!r} as its next version"
            f" (id: {existing[0]}, a later effective_from), or run a points service of its own"
        )


async def _not_in_force(connection: asyncpg.Connection, program_id: str, at: datetime) -> NotFound:
    first = await program_store.first(connection, program_id)
    if first is None:
        return NotFound(f"program_id: program {program_id!r} does not exist")
    return NotFound(
        f"at: program {program_id!r} takes effect only at {first.effective_from.isoformat()}, after {at.isoformat()}"
    )
