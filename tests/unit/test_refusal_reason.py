"""Why a consumer dead-lettered an event: the domain's words, or one line on what the database refused, never the
database's own message (tables, constraints, query arguments, and a DETAIL quoting the row)."""

from __future__ import annotations

import asyncpg
import pytest

from services.common.consumer import refusal_reason
from services.common.errors import InvalidArgument


def database_error(kind: type[asyncpg.PostgresError], message: str, detail: str = "") -> asyncpg.PostgresError:
    """An error as asyncpg raises it from the server's report (severity, SQLSTATE, message, DETAIL)."""
    fields = {"S": "ERROR", "C": kind.sqlstate, "M": message}
    if detail:
        fields["D"] = detail
    error: asyncpg.PostgresError = kind.new(fields)
    return error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            database_error(
                asyncpg.exceptions.CheckViolationError,
                'new row for relation "redemptions" violates check constraint "redemptions_points_check"',
                "Failing row contains (r-1, m-1, -5, 2026-12-07 12:00:00+00, null).",
            ),
            "the database refused a value: a value is outside what may be stored",
        ),
        (
            database_error(
                asyncpg.exceptions.DataError,
                "invalid input for query argument $4 in element #0 of executemany() sequence:"
                " -18446744073709551614 (value out of int64 range)",
            ),
            "the database refused a value: a value cannot be stored",
        ),
        (
            database_error(asyncpg.exceptions.NumericValueOutOfRangeError, "bigint out of range"),
            "the database refused a value: a number is beyond what can be stored",
        ),
    ],
)
def test_a_value_the_database_refused_is_told_in_one_line_without_its_message(
    error: asyncpg.PostgresError, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert refusal_reason(error) == reason
    # The database's own message is the service log's, for whoever mends the cause.
    [logged] = [r for r in caplog.records if r.getMessage() == "the database refused a value of an event"]
    assert str(error).splitlines()[0] in logged.error  # type: ignore[attr-defined]


def test_a_domain_refusal_is_the_domains_message() -> None:
    assert refusal_reason(InvalidArgument.single("points", "must not be negative")) == "points: must not be negative"
