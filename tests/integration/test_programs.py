"""Program versions on real PostgreSQL: apply, idempotent re-apply, history order, the version in force."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.points.domain import Money, Purchase
from services.points.earning import price_purchase
from services.points.program_application import ApplyOutcome, ProgramApplication
from tests.integration.support import PoolFactory

JAN = datetime(2025, 1, 1, tzinfo=UTC)
JUL = datetime(2025, 7, 1, tzinfo=UTC)


def definition(rate: int, effective_from: datetime = JAN, program_id: str = "shop", comment: str = "") -> str:
    return (
        f"# {comment}\nid: {program_id}\neffective_from: {effective_from.isoformat()}\ncurrency: USD\n"
        f"earning:\n  base_rates: {{USD: {rate}}}\n"
    )


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    _, pool = await migrated_pool("points")
    return pool


@pytest.fixture
def programs(pool: asyncpg.Pool) -> ProgramApplication:
    return ProgramApplication(pool)


async def stored_versions(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT program_id, version FROM programs ORDER BY program_id, version")
    return [(row["program_id"], row["version"]) for row in rows]


async def test_versions_are_numbered_and_a_purchase_is_priced_by_the_one_in_force(
    programs: ProgramApplication,
) -> None:
    first = await programs.apply(definition(2))
    second = await programs.apply(definition(5, JUL))
    assert (first.outcome, first.version.version) == (ApplyOutcome.CREATED, 1)
    assert (second.outcome, second.version.version) == (ApplyOutcome.CREATED, 2)
    assert first.version.created_at is not None

    async def earned_on(moment: datetime) -> int:
        version = await programs.in_force("shop", moment)
        bought = Purchase("p", "m", Money(1000, "USD"), (), moment, "web")
        return price_purchase(version.program, bought, member_tier="base", earned_today=0).total

    assert await earned_on(JUL - timedelta(microseconds=1)) == 20
    assert await earned_on(JUL) == 50
    assert await earned_on(datetime(2030, 1, 1, tzinfo=UTC)) == 50


async def test_a_fresh_application_reads_stored_versions(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    await programs.apply(definition(2, comment="first"))
    found = await ProgramApplication(pool).in_force("shop", JUL)
    assert found.version == 1
    assert found.definition.startswith("# first\n")
    assert found.program.earning.base_rates["USD"] == 2


async def test_applying_the_same_text_again_changes_nothing(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    first = await programs.apply(definition(2))
    again = await programs.apply(definition(2))
    assert again.outcome is ApplyOutcome.UNCHANGED
    assert again.version.version == first.version.version
    assert again.version.created_at == first.version.created_at
    assert await stored_versions(pool) == [("shop", 1)]


async def test_another_definition_at_the_same_effective_from_is_refused(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    await programs.apply(definition(2))
    with pytest.raises(AlreadyExists, match="effective_from: version 1"):
        await programs.apply(definition(2, comment="reworded"))
    assert await stored_versions(pool) == [("shop", 1)]


async def test_a_version_before_the_latest_is_refused(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    await programs.apply(definition(2, JUL))
    with pytest.raises(FailedPrecondition, match="effective_from: must be after"):
        await programs.apply(definition(5, JAN))
    assert await stored_versions(pool) == [("shop", 1)]


async def test_dry_run_checks_everything_and_stores_nothing(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    dry = await programs.apply(definition(2), dry_run=True)
    assert (dry.outcome, dry.version.version, dry.version.created_at) == (ApplyOutcome.VALIDATED, 1, None)
    assert await stored_versions(pool) == []
    await programs.apply(definition(2))
    assert (await programs.apply(definition(3, JUL), dry_run=True)).version.version == 2
    with pytest.raises(FailedPrecondition):
        await programs.apply(definition(3, JAN - timedelta(days=1)), dry_run=True)
    assert await stored_versions(pool) == [("shop", 1)]


async def test_an_invalid_definition_stores_nothing(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    with pytest.raises(InvalidArgument):
        await programs.apply(definition(0))
    assert await stored_versions(pool) == []


async def test_concurrent_applies_of_one_definition_store_it_once(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    results = await asyncio.gather(*(programs.apply(definition(2)) for _ in range(8)))
    assert sorted(result.outcome for result in results) == [ApplyOutcome.CREATED] + [ApplyOutcome.UNCHANGED] * 7
    assert await stored_versions(pool) == [("shop", 1)]


async def test_concurrent_applies_keep_versions_in_effective_order(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    starts = [JAN + timedelta(days=30 * i) for i in range(8)]
    results = await asyncio.gather(*(programs.apply(definition(2, start)) for start in starts), return_exceptions=True)
    applied = [r for r in results if not isinstance(r, BaseException)]
    assert all(isinstance(r, FailedPrecondition) for r in results if isinstance(r, BaseException))
    rows = await pool.fetch("SELECT version, effective_from FROM programs ORDER BY version")
    assert [row["version"] for row in rows] == list(range(1, len(applied) + 1))
    assert [row["effective_from"] for row in rows] == sorted(row["effective_from"] for row in rows)


async def test_lookups_name_what_is_missing(programs: ProgramApplication) -> None:
    with pytest.raises(NotFound, match="no program has been applied"):
        await programs.in_force("", JUL)
    await programs.apply(definition(2, JUL))
    with pytest.raises(NotFound, match="program_id: program 'other' does not exist"):
        await programs.in_force("other", JUL)
    with pytest.raises(NotFound, match="at: program 'shop' takes effect only at"):
        await programs.in_force("shop", JAN)
    with pytest.raises(InvalidArgument):
        await programs.in_force("Not An Id", JUL)


async def test_the_only_program_is_found_without_its_id(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    await programs.apply(definition(2))
    assert (await programs.in_force("", JUL)).program_id == "shop"
    async with pool.acquire() as connection:
        found = await programs.in_force_in(connection, None, JUL)
        assert found is not None and found.program_id == "shop"
        assert await programs.in_force_in(connection, None, JAN - timedelta(seconds=1)) is None


async def test_a_second_program_is_refused_and_the_first_keeps_pricing(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    await programs.apply(definition(2))
    for dry_run in (True, False):
        with pytest.raises(FailedPrecondition, match="id: this points service runs program 'shop'; apply 'other'"):
            await programs.apply(definition(2, program_id="other"), dry_run=dry_run)
    assert await pool.fetchval("SELECT array_agg(DISTINCT program_id) FROM programs") == ["shop"]
    assert (await programs.in_force("", JUL)).program_id == "shop"
    assert (await programs.apply(definition(3, JUL))).version.version == 2


async def test_a_database_holding_two_programs_from_before_asks_for_one_by_name(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    await programs.apply(definition(2))
    # As a points service could store it before a second program was refused.
    await pool.execute(
        """INSERT INTO programs (program_id, version, effective_from, definition)
           SELECT 'other', 1, effective_from, replace(definition, 'id: shop', 'id: other') FROM programs"""
    )
    with pytest.raises(FailedPrecondition, match="several programs"):
        await programs.in_force("", JUL)
    assert (await programs.in_force("other", JUL)).program_id == "other"


async def test_versions_are_immutable_in_the_database(pool: asyncpg.Pool, programs: ProgramApplication) -> None:
    await programs.apply(definition(2))
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await pool.execute("UPDATE programs SET definition = 'x'")
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await pool.execute("DELETE FROM programs")
