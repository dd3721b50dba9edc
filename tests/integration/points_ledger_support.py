"""Helpers shared by the hold, adjustment and invariant tests of the points ledger."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from prometheus_client import REGISTRY

from services.common.events import decode
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase
from services.points.ledger_application import LedgerApplication

# Prices like the flat rate (2 points per USD) but lets refunds take spent points, leaving the balance negative.
NEGATIVE_BALANCE_PROGRAM = """
id: negative-club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 2}
refunds:
  spent_points: negative_balance
"""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def entries_written(kind: str) -> float:
    """The ledger entries metric of this process (the service under test runs in it)."""
    return REGISTRY.get_sample_value("loyalty_points_ledger_entries_written_total", {"kind": kind}) or 0.0


async def member_with_points(app: PointsApplication, whole_usd: int) -> str:
    """A new member who earned 2 points per USD on one purchase of `whole_usd` dollars."""
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    if whole_usd:
        await earn(app, member_id, whole_usd)
    return member_id


async def earn(app: PointsApplication, member_id: str, whole_usd: int) -> None:
    purchase = Purchase(new_id("p"), member_id, Money(whole_usd * 100, "USD"), (), datetime.now(UTC), "")
    await app.record_purchase(purchase)


@dataclass(frozen=True)
class Books:
    """Everything the ledger says about one member, read straight from the tables."""

    entries_sum: int
    member_balance: int
    lots_remaining: int
    lowest_remaining: int
    # Points refunds took beyond what the lots had (refund policy negative_balance).
    overdrawn: int
    available: int
    pending: int
    held: int


async def books(pool: asyncpg.Pool, ledger: LedgerApplication, member_id: str) -> Books:
    async with pool.acquire() as connection:
        row = await connection.fetchrow(
            """SELECT (SELECT coalesce(sum(points), 0) FROM ledger_entries WHERE member_id = $1) AS entries_sum,
                      (SELECT balance FROM members WHERE member_id = $1) AS member_balance,
                      (SELECT coalesce(sum(remaining), 0) FROM lots WHERE member_id = $1) AS lots_remaining,
                      (SELECT coalesce(min(remaining), 0) FROM lots WHERE member_id = $1) AS lowest_remaining,
                      (SELECT points_overdrawn FROM members WHERE member_id = $1) AS overdrawn""",
            member_id,
        )
    balances = await ledger.balances(member_id)
    return Books(**row, available=balances.available, pending=balances.pending, held=balances.held)


def assert_balanced(state: Books) -> None:
    assert state.entries_sum == state.member_balance == state.lots_remaining - state.overdrawn
    assert state.available + state.pending + state.held == state.entries_sum
    assert state.lowest_remaining >= 0
    assert state.available >= -state.overdrawn


async def events_of(pool: asyncpg.Pool, member_id: str, kind: type | tuple[type, ...]) -> list[object]:
    """The member's events of a kind (or of any of several) in the outbox, oldest first."""
    async with pool.acquire() as connection:
        rows = await connection.fetch("SELECT envelope FROM outbox WHERE message_key = $1 ORDER BY id", member_id)
    payloads = [decode(row["envelope"], [])[1] for row in rows]
    return [p for p in payloads if isinstance(p, kind)]


async def waiting_on_locks(pool: asyncpg.Pool, count: int) -> None:
    """Until `count` sessions of this database wait on a lock (one the test holds), so an interleaving is forced
    without sleeping on luck."""
    for _ in range(500):
        waiting = await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited on a lock")
