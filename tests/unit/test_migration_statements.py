"""Splitting a migration run outside a transaction into its statements, and what such a file must say."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.migrations import NO_TRANSACTION, Migration, discover, service_migrations, split_statements


def test_statements_split_on_semicolons_with_comments_left_out() -> None:
    sql = f"""{NO_TRANSACTION}
-- a comment; with a semicolon
ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;  /* a block; comment */
CREATE INDEX CONCURRENTLY IF NOT EXISTS t_c ON t (c)
    WHERE c > 0;
"""
    assert split_statements(sql) == [
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_c ON t (c)\n    WHERE c > 0",
    ]


def test_semicolons_in_strings_names_and_function_bodies_do_not_split() -> None:
    sql = """INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x');
SELECT 1 AS "odd;""name";
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
DO $$ BEGIN PERFORM 1; END $$"""
    assert split_statements(sql) == [
        "INSERT INTO t VALUES ('a;b', 'it''s;', E'\\';x')",
        'SELECT 1 AS "odd;""name"',
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$",
        "DO $$ BEGIN PERFORM 1; END $$",
    ]


def test_only_the_marker_on_the_first_line_takes_a_file_out_of_its_transaction() -> None:
    assert not Migration("demo", 1, "001_a.sql", f"{NO_TRANSACTION}\nSELECT 1").in_transaction
    assert not Migration("demo", 1, "001_a.sql", f"{NO_TRANSACTION}  \r\nSELECT 1").in_transaction
    assert Migration("demo", 1, "001_a.sql", f"-- why\n{NO_TRANSACTION}\nSELECT 1").in_transaction
    assert Migration("demo", 1, "001_a.sql", "SELECT 1").in_transaction


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY t_c ON t (c)",  # would fail on a rerun once built
        "CREATE UNIQUE INDEX CONCURRENTLY t_c ON t (c)",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ON t (c)",  # no name: a leftover could not be found
        "create index t_c on t (c)",
    ],
)
def test_a_file_outside_a_transaction_must_build_its_indexes_so_that_they_can_run_again(
    tmp_path: Path, statement: str
) -> None:
    (tmp_path / "001_index.sql").write_text(f"{NO_TRANSACTION}\n{statement};\n")
    with pytest.raises(ValueError, match="IF NOT EXISTS"):
        discover("demo", tmp_path)


def test_a_transactional_file_may_build_an_index_without_if_not_exists(tmp_path: Path) -> None:
    (tmp_path / "001_index.sql").write_text("CREATE INDEX t_c ON t (c);\n")
    assert [m.name for m in discover("demo", tmp_path)] == ["001_index.sql"]


@pytest.mark.parametrize(
    ("component", "version", "indexes"),
    [
        ("common", 3, ["inbox_applied"]),
        ("points", 23, ["members_last_active"]),
        ("points", 25, ["members_owing"]),
        ("points", 28, ["purchases_member_spend"]),
        ("points", 30, ["members_last_active_keyset"]),
    ],
)
def test_indexes_added_to_live_tables_are_built_concurrently(component: str, version: int, indexes: list[str]) -> None:
    (migration,) = [m for m in service_migrations("points") if (m.component, m.version) == (component, version)]
    assert not migration.in_transaction
    built = [s.split()[6] for s in split_statements(migration.sql) if s.startswith("CREATE INDEX CONCURRENTLY")]
    assert built == indexes
