"""Migration files run outside a transaction (`-- migrate: no-transaction`), against real PostgreSQL:
statement by statement, safe to run again after a failure midway, and never blocking writers while they build."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.common.migrations import NO_TRANSACTION, Migration, apply, service_migrations
from tests.integration.test_migrations import CreateDatabase, applied_rows


async def index_states(connection: asyncpg.Connection) -> dict[str, tuple[int, bool]]:
    """Each index of the public schema: its oid (a rebuilt index has a new one) and whether it is valid."""
    records = await connection.fetch(
        """SELECT c.relname, i.indexrelid::int AS oid, i.indisvalid
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relnamespace = 'public'::regnamespace"""
    )
    return {r["relname"]: (r["oid"], r["indisvalid"]) for r in records}


async def test_a_file_marked_no_transaction_runs_each_statement_on_its_own(create_database: CreateDatabase) -> None:
    url = await create_database()
    # CREATE INDEX CONCURRENTLY fails inside a transaction, and so inside a file run as one.
    migration = Migration(
        "demo",
        1,
        "001_concurrent.sql",
        f"""{NO_TRANSACTION}
        CREATE TABLE IF NOT EXISTS codes (code text);
        INSERT INTO codes VALUES ('a;b');  -- a semicolon in a string does not end a statement
        CREATE INDEX CONCURRENTLY IF NOT EXISTS codes_code ON codes (code);""",
    )
    connection = await asyncpg.connect(url)
    try:
        assert await apply(connection, [migration]) == ["demo/001_concurrent.sql"]
        assert await connection.fetchval("SELECT code FROM codes") == "a;b"
        assert (await index_states(connection))["codes_code"][1] is True
        assert await apply(connection, [migration]) == []
    finally:
        await connection.close()
    assert await applied_rows(url) == [("demo", 1, "001_concurrent.sql")]


async def test_a_rerun_after_a_build_failed_midway_rebuilds_the_invalid_index_it_left(
    create_database: CreateDatabase,
) -> None:
    url = await create_database()
    migration = Migration(
        "demo",
        1,
        "001_indexes.sql",
        f"""{NO_TRANSACTION}
        CREATE INDEX CONCURRENTLY IF NOT EXISTS codes_batch ON codes (batch);
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS codes_unique ON codes (code);""",
    )
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "CREATE TABLE codes (code text, batch int); INSERT INTO codes VALUES ('a', 1), ('a', 2), ('b', 2)"
        )
        # The second build fails after the first committed, and leaves its index behind, INVALID.
        with pytest.raises(asyncpg.UniqueViolationError):
            await apply(connection, [migration])
        first_run = await index_states(connection)
        assert first_run["codes_batch"][1] is True
        assert first_run["codes_unique"][1] is False
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == 0
        # Once the cause is mended, the file runs again from its start and completes.
        await connection.execute("DELETE FROM codes WHERE batch = 1")
        assert await apply(connection, [migration]) == ["demo/001_indexes.sql"]
        rerun = await index_states(connection)
    finally:
        await connection.close()
    assert rerun["codes_unique"][1] is True
    assert rerun["codes_batch"] == first_run["codes_batch"]  # the valid index is kept, not built again
    assert await applied_rows(url) == [("demo", 1, "001_indexes.sql")]


async def test_a_runner_waiting_its_turn_does_not_deadlock_a_concurrent_build(create_database: CreateDatabase) -> None:
    url = await create_database()
    # The build starts after the other runner began waiting, and outlasts deadlock_timeout (1 s): a runner
    # blocked on the lock would keep a snapshot the build waits for, and one of the two would be failed.
    migration = Migration(
        "demo",
        1,
        "001_slow.sql",
        f"""{NO_TRANSACTION}
        CREATE TABLE IF NOT EXISTS codes (code text);
        SELECT pg_sleep(0.5);
        CREATE INDEX CONCURRENTLY IF NOT EXISTS codes_code ON codes (code);
        SELECT pg_sleep(1.5);""",
    )
    first, second = await asyncio.gather(asyncpg.connect(url), asyncpg.connect(url))
    try:
        results = await asyncio.gather(apply(first, [migration]), apply(second, [migration]))
        assert sorted(results) == [[], ["demo/001_slow.sql"]]
        assert (await index_states(first))["codes_code"][1] is True
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_members_stay_writable_while_an_index_on_them_is_built(create_database: CreateDatabase) -> None:
    url = await create_database()
    migrations = [m for m in service_migrations("points") if not (m.component == "points" and m.version > 25)]
    before = [m for m in migrations if not (m.component == "points" and m.version == 25)]
    runner, open_writer, writer = await asyncio.gather(*(asyncpg.connect(url) for _ in range(3)))
    try:
        await apply(runner, before)
        # A write still open when the build of points/025 starts: the build waits for it to end.
        open_transaction = open_writer.transaction()
        await open_transaction.start()
        await open_writer.execute("INSERT INTO members (member_id, tier) VALUES ('ada', 'member')")
        applying = asyncio.create_task(apply(runner, migrations))
        async with asyncio.timeout(10):
            while not await writer.fetchval(
                """SELECT true FROM pg_stat_activity
                    WHERE query LIKE '%INDEX%members_owing%' AND wait_event_type = 'Lock'
                      AND pid <> pg_backend_pid()"""
            ):
                assert not applying.done()
                await asyncio.sleep(0.02)
        # Meanwhile others write: a plain CREATE INDEX would queue them behind its own wait, for the whole build.
        await writer.execute("SET statement_timeout = '2s'")
        await writer.execute("INSERT INTO members (member_id, tier) VALUES ('bob', 'member')")
        await open_transaction.commit()
        assert await applying == ["points/025_owing_members.sql"]
        assert (await index_states(runner))["members_owing"][1] is True
    finally:
        await asyncio.gather(runner.close(), open_writer.close(), writer.close())
