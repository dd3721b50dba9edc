"""The migration runner against real PostgreSQL, and migration discovery on disk."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from services.common.doctor import check_database
from services.common.migrations import (
    COMMON_MIGRATIONS,
    Migration,
    apply,
    discover,
    migrate,
    service_migrations,
)
from services.common.settings import SERVICE_NAMES, service_settings

CreateDatabase = Callable[[], Awaitable[str]]


async def applied_rows(url: str) -> list[tuple[str, int, str]]:
    connection = await asyncpg.connect(url)
    try:
        records = await connection.fetch(
            "SELECT component, version, name FROM schema_migrations ORDER BY component, version"
        )
    finally:
        await connection.close()
    return [(r["component"], r["version"], r["name"]) for r in records]


def expected_rows(service: str) -> list[tuple[str, int, str]]:
    return sorted((m.component, m.version, m.name) for m in service_migrations(service))


@pytest.mark.parametrize("service", ["points", "rewards", "tickets"])
async def test_two_concurrent_runners_apply_each_file_once(create_database: CreateDatabase, service: str) -> None:
    url = await create_database()
    first, second = await asyncio.gather(migrate(url, service), migrate(url, service))
    every_file = [f"{m.component}/{m.name}" for m in service_migrations(service)]
    # Between them they applied every file, and no file twice.
    assert sorted(first + second) == sorted(every_file)
    assert await applied_rows(url) == expected_rows(service)


async def test_ten_concurrent_runners_on_a_fresh_database(create_database: CreateDatabase) -> None:
    url = await create_database()
    results = await asyncio.gather(*(migrate(url, "points") for _ in range(10)))
    assert sum(len(r) for r in results) == len(service_migrations("points"))
    assert await applied_rows(url) == expected_rows("points")


async def test_a_second_run_applies_nothing(create_database: CreateDatabase) -> None:
    url = await create_database()
    assert len(await migrate(url, "points")) == len(service_migrations("points"))
    assert await migrate(url, "points") == []
    assert await applied_rows(url) == expected_rows("points")


async def test_migrations_create_the_tables_each_service_needs(create_database: CreateDatabase) -> None:
    url = await create_database()
    await migrate(url, "points")
    connection = await asyncpg.connect(url)
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await connection.close()
    assert {"outbox", "inbox", "members", "ledger_entries", "purchases", "schema_migrations"} <= tables


async def test_events_written_before_the_pending_list_keep_their_state(create_database: CreateDatabase) -> None:
    url = await create_database()
    kit = discover("common", COMMON_MIGRATIONS)
    connection = await asyncpg.connect(url)
    try:
        await apply(connection, kit[:1])
        await connection.execute(
            """INSERT INTO outbox (event_id, topic, message_key, event_type, envelope, published_at)
               VALUES (gen_random_uuid(), 't', 'sent', 'e', '', now()),
                      (gen_random_uuid(), 't', 'waiting', 'e', '', NULL)"""
        )
        await apply(connection, kit)
        pending = await connection.fetch("SELECT message_key FROM outbox_pending JOIN outbox USING (id)")
        kept = await connection.fetchval("SELECT count(*) FROM outbox")
    finally:
        await connection.close()
    # The published event stays (retained for replay) but is no longer pending; the waiting one still is.
    assert [r["message_key"] for r in pending] == ["waiting"]
    assert kept == 2


async def across_migration(
    create_database: CreateDatabase,
    version: int,
    rows_before: str,
    query: str,
    service: str = "points",
    rows_after: str = "",
) -> list[asyncpg.Record]:
    """Apply the `service`'s migrations before `version`, write `rows_before`, apply the rest, write `rows_after`;
    `query`'s rows then."""
    migrations = service_migrations(service)
    before = [m for m in migrations if not (m.component == service and m.version >= version)]
    connection = await asyncpg.connect(await create_database())
    try:
        await apply(connection, before)
        await connection.execute(rows_before)
        await apply(connection, migrations)
        if rows_after:
            await connection.execute(rows_after)
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_refunds_recorded_before_they_named_their_member_get_it_from_their_purchase(
    create_database: CreateDatabase,
) -> None:
    rows = await across_migration(
        create_database,
        14,
        """INSERT INTO members (member_id, tier) VALUES ('ada', 'member');
           INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, occurred_at, points_earned)
                VALUES ('p-1', 'ada', 5000, 'USD', now(), 0);
           INSERT INTO refunds (refund_id, purchase_id, amount_minor, points_reversed, points_owed, occurred_at)
                VALUES ('r-1', 'p-1', 2000, 0, 0, now())""",
        "SELECT member_id FROM refunds WHERE refund_id = 'r-1'",
    )
    assert [r["member_id"] for r in rows] == ["ada"]


async def test_members_get_their_last_activity_from_the_entries_recorded_before_it_was_kept(
    create_database: CreateDatabase,
) -> None:
    rows = await across_migration(
        create_database,
        15,
        """INSERT INTO members (member_id, tier) VALUES ('ada', 'member'), ('bob', 'member');
           INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown,
                                       created_at)
           VALUES (gen_random_uuid(), 'ada', 'purchase_earn', 10, 'a1', '', '[]', '2024-01-01'),
                  (gen_random_uuid(), 'ada', 'redemption', -5, 'a2', '', '[]', '2024-06-01'),
                  (gen_random_uuid(), 'ada', 'adjustment', 5, 'a3', '', '[]', '2025-01-01'),
                  (gen_random_uuid(), 'bob', 'bonus', 10, 'b1', '', '[{"source": "signup"}]', '2024-02-01'),
                  (gen_random_uuid(), 'bob', 'bonus', 10, 'b2', '', '[{"source": "birthday"}]', '2025-02-01')""",
        "SELECT member_id, last_activity_at::date::text AS day FROM members",
    )
    # The redemption counts, a correction does not; a signup bonus counts, a birthday bonus does not.
    assert {r["member_id"]: r["day"] for r in rows} == {"ada": "2024-06-01", "bob": "2024-02-01"}


async def test_earnings_and_refunds_recorded_before_017_qualify_when_their_purchase_was_made(
    create_database: CreateDatabase,
) -> None:
    rows = await across_migration(
        create_database,
        17,
        """INSERT INTO members (member_id, tier) VALUES ('ada', 'member');
           INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown)
           VALUES ('00000000-0000-0000-0000-00000000000e', 'ada', 'purchase_earn', 10, 'e', '', '[]'),
                  ('00000000-0000-0000-0000-00000000000b', 'ada', 'bonus', 5, 'b', '', '[]');
           INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at)
           SELECT gen_random_uuid(), 'ada', entry_id, points, points, '2024-03-01', '2024-03-01' FROM ledger_entries;
           INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, occurred_at, points_earned)
                VALUES ('p-1', 'ada', 5000, 'USD', '2024-03-01', 10);
           INSERT INTO refunds (refund_id, purchase_id, member_id, amount_minor, points_reversed, points_owed,
                                occurred_at)
                VALUES ('r-1', 'p-1', 'ada', 2000, 4, 0, '2025-01-01')""",
        """SELECT kind AS what, qualifies_at::date::text AS day FROM ledger_entries
           UNION ALL SELECT 'refund', purchase_occurred_at::date::text FROM refunds""",
    )
    # The earning qualifies when its lot was earned, the bonus never; the refund goes with its purchase.
    assert {r["what"]: r["day"] for r in rows} == {"purchase_earn": "2024-03-01", "bonus": None, "refund": "2024-03-01"}


async def test_purchases_stamped_ahead_before_026_count_the_instant_before_they_were_recorded(
    create_database: CreateDatabase,
) -> None:
    rows = await across_migration(
        create_database,
        29,
        """INSERT INTO members (member_id, tier, last_activity_at)
                VALUES ('ada', 'member', '2026-03-01 12:00Z'), ('bob', 'member', '2026-01-01');
           INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown,
                                       qualifies_at)
                VALUES ('00000000-0000-0000-0000-00000000000a', 'ada', 'purchase_earn', 10, 'a', '', '[]',
                        '2026-03-01 12:00Z'),
                       ('00000000-0000-0000-0000-00000000000b', 'bob', 'purchase_earn', 10, 'b', '', '[]',
                        '2025-12-31');
           INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, occurred_at, recorded_at,
                                  points_earned, entry_id)
                VALUES ('ahead', 'ada', 5000, 'USD', '2026-03-01 12:00Z', '2026-03-01 02:00Z', 10,
                        '00000000-0000-0000-0000-00000000000a'),
                       ('late', 'bob', 5000, 'USD', '2025-12-31', '2026-01-01', 10,
                        '00000000-0000-0000-0000-00000000000b');
           INSERT INTO refunds (refund_id, purchase_id, member_id, amount_minor, points_reversed, points_owed,
                                occurred_at, purchase_occurred_at)
                VALUES ('r-1', 'ahead', 'ada', 2000, 4, 0, '2026-03-02', '2026-03-01 12:00Z');
           -- As if now were 2026-03-01 02:00: ada's last activity is the stamp, ten hours ahead.
           UPDATE members SET last_activity_at = now() + interval '10 hours' WHERE member_id = 'ada'""",
        """SELECT 'purchase ' || purchase_id AS what, qualifies_at FROM purchases
           UNION ALL SELECT 'entry ' || member_id, qualifies_at FROM ledger_entries
           UNION ALL SELECT 'refund', purchase_occurred_at FROM refunds
           UNION ALL SELECT 'ahead of now ' || member_id, NULL FROM members WHERE last_activity_at > now()""",
    )
    counted = datetime(2026, 3, 1, 1, 59, 59, 999999, tzinfo=UTC)
    assert {r["what"]: r["qualifies_at"] for r in rows} == {
        "purchase ahead": counted,
        "purchase late": None,  # occurred before it was recorded: counts when it occurred
        "entry ada": counted,
        "entry bob": datetime(2025, 12, 31, tzinfo=UTC),
        "refund": counted,
    }


async def test_redemptions_made_before_006_get_their_rewards_value_and_the_version_before_still_redeems(
    create_database: CreateDatabase,
) -> None:
    columns = "member_id, reward_name, kind, amount_minor, currency_code, percent_off, sku, partner"
    rows = await across_migration(
        create_database,
        6,
        """INSERT INTO rewards (reward_id, name, kind, amount_minor, currency_code, cost_points, code_source,
                                code_validity, trigger, created_at, updated_at)
           VALUES ('00000000-0000-0000-0000-00000000000a', '5 USD off', 'discount_fixed', 500, 'USD', 100,
                   'generated', '30 days', 'redeem', now(), now());
           INSERT INTO redemptions (redemption_id, member_id, reward_id, idempotency_key, occasion, points, step,
                                    hold_id, lease_until, created_at, completed_at)
           VALUES (gen_random_uuid(), 'ada', '00000000-0000-0000-0000-00000000000a', 'k', 'redeemed', 100,
                   'completed', gen_random_uuid(), now(), now(), now())""",
        # The version before, still running during a rolling deploy, writes a redemption as it did.
        f"""WITH by_the_version_before AS (
                INSERT INTO redemptions (redemption_id, member_id, reward_id, idempotency_key, occasion, points,
                                         step, lease_until, created_at)
                VALUES (gen_random_uuid(), 'bob', '00000000-0000-0000-0000-00000000000a', 'k2', 'redeemed', 100,
                        'pending', now(), now())
                RETURNING {columns})
            SELECT {columns} FROM redemptions UNION ALL SELECT {columns} FROM by_the_version_before
            ORDER BY member_id""",
        service="rewards",
    )
    # The reward's value when the migration ran, the best known of what it was when redeemed; none for the row
    # the version before wrote (its code shows its reward's value, as that version did).
    assert [tuple(r.values()) for r in rows] == [
        ("ada", "5 USD off", "discount_fixed", 500, "USD", 0, "", ""),
        ("bob", None, None, None, None, None, None, None),
    ]


async def test_files_a_newer_release_applied_are_named_and_this_release_still_migrates(
    create_database: CreateDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollout runs old and new replicas side by side, and a rollback runs the old ones on the new schema."""
    url = await create_database()
    await migrate(url, "points")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            """INSERT INTO schema_migrations (component, version, name)
               VALUES ('points', 9001, '9001_from_a_newer_release.sql'), ('common', 9001, '9001_newer_kit.sql'),
                      -- another service's, in a database it shares: not this service's to know
                      ('tickets', 9001, '9001_of_tickets.sql')"""
        )
    finally:
        await connection.close()
    newer = ["common/9001_newer_kit.sql", "points/9001_from_a_newer_release.sql"]

    with caplog.at_level(logging.WARNING, logger="services.common.migrations"):
        assert await migrate(url, "points") == []

    assert [(r.levelname, r.getMessage(), getattr(r, "not_known", None)) for r in caplog.records] == [
        ("WARNING", f"schema is newer than this release: {', '.join(newer)} not known", newer)
    ]
    finding = await check_database(service_settings("points", {"LOYALTY_POINTS_DATABASE_URL": url}))
    assert (finding.problem, finding.detail) == (
        None,
        f"schema is newer than this release: {', '.join(newer)} not known",
    )


async def test_a_failing_file_leaves_no_trace_and_earlier_files_stay(create_database: CreateDatabase) -> None:
    url = await create_database()
    good = Migration("demo", 1, "001_good.sql", "CREATE TABLE good (id int)")
    bad = Migration("demo", 2, "002_bad.sql", "CREATE TABLE half (id int); SELECT 1 / 0")
    connection = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply(connection, [good, bad])
        assert await connection.fetchval("SELECT to_regclass('good') IS NOT NULL")
        assert await connection.fetchval("SELECT to_regclass('half') IS NULL")
        fixed = Migration("demo", 2, "002_bad.sql", "CREATE TABLE half (id int)")
        assert await apply(connection, [good, fixed]) == ["demo/002_bad.sql"]
    finally:
        await connection.close()
    assert await applied_rows(url) == [("demo", 1, "001_good.sql"), ("demo", 2, "002_bad.sql")]


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_every_services_migrations_apply_on_an_empty_database(
    create_database: CreateDatabase, service: str
) -> None:
    url = await create_database()
    assert len(await migrate(url, service)) == len(service_migrations(service))
    assert await applied_rows(url) == expected_rows(service)
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == 0
    finally:
        await connection.close()


def test_service_migrations_put_the_kit_first() -> None:
    migrations = service_migrations("points")
    assert migrations[0].component == "common"
    assert [m.component for m in migrations] == sorted((m.component for m in migrations), key=lambda c: c != "common")
    assert all(m.sql.strip() for m in migrations)


def test_discover_orders_by_number(tmp_path: Path) -> None:
    (tmp_path / "010_later.sql").write_text("SELECT 10;")
    (tmp_path / "002_second.sql").write_text("SELECT 2;")
    (tmp_path / "001_first.sql").write_text("SELECT 1;")
    (tmp_path / "1000_past_three_digits.sql").write_text("SELECT 1000;")  # before 010_ as text
    (tmp_path / "README.md").write_text("not a migration")
    migrations = discover("demo", tmp_path)
    assert [(m.version, m.name, m.sql) for m in migrations] == [
        (1, "001_first.sql", "SELECT 1;"),
        (2, "002_second.sql", "SELECT 2;"),
        (10, "010_later.sql", "SELECT 10;"),
        (1000, "1000_past_three_digits.sql", "SELECT 1000;"),
    ]
    assert {m.component for m in migrations} == {"demo"}


@pytest.mark.parametrize(
    "bad_name", ["1_short.sql", "001-dash.sql", "001_Upper.sql", "001.sql", "abc_name.sql", "001_sp ace.sql"]
)
def test_discover_rejects_bad_file_names(tmp_path: Path, bad_name: str) -> None:
    (tmp_path / "001_ok.sql").write_text("SELECT 1;")
    (tmp_path / bad_name).write_text("SELECT 2;")
    with pytest.raises(ValueError, match=re.escape("is not NNN_lower_snake.sql")):
        discover("demo", tmp_path)


def test_discover_rejects_duplicate_numbers(tmp_path: Path) -> None:
    (tmp_path / "001_one.sql").write_text("SELECT 1;")
    (tmp_path / "001_other.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="duplicate migration numbers"):
        discover("demo", tmp_path)


def test_discover_rejects_the_same_number_written_differently(tmp_path: Path) -> None:
    (tmp_path / "001_one.sql").write_text("SELECT 1;")
    (tmp_path / "0001_one_again.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="duplicate migration numbers"):
        discover("demo", tmp_path)


async def test_members_enrolled_before_041_are_known_in_their_tier_since_they_reached_it_and_every_move_after(
    create_database: CreateDatabase,
) -> None:
    rows = await across_migration(
        create_database,
        41,
        """INSERT INTO members (member_id, tier, enrolled_at) VALUES ('ada', 'member', '2024-01-01');
           INSERT INTO members (member_id, tier, enrolled_at, tier_since)
                VALUES ('bob', 'gold', '2024-01-01', '2025-03-01')""",
        "SELECT member_id, since::date::text AS day, tier FROM member_tier_history ORDER BY member_id, since",
        # A move stamps when it happened; a write that leaves the tier as it was is no move.
        rows_after="""UPDATE members SET tier = 'silver', tier_since = '2026-01-01' WHERE member_id = 'ada';
                      UPDATE members SET email = 'ada@example.com', tier = 'silver' WHERE member_id = 'ada'""",
    )
    assert [tuple(r) for r in rows] == [
        ("ada", "2024-01-01", "member"),
        ("ada", "2026-01-01", "silver"),
        ("bob", "2025-03-01", "gold"),
    ]
