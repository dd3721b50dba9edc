"""Property-based: random sequences of ledger operations keep the books balanced, and repeats change nothing.

Operations: earn, hold, capture, release, adjust (both ways) and partial refunds.
Every operation is run twice in a row with the same idempotency key (purchase
id, hold key, hold id, adjustment key); the second run must leave the books
exactly as the first left them.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.errors import AlreadyExists, FailedPrecondition
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import (
    NEGATIVE_BALANCE_PROGRAM,
    Books,
    assert_balanced,
    books,
    member_with_points,
    new_id,
)
from tests.integration.support import PoolFactory

KEYS = 4  # few keys, so sequences reuse them with other amounts too

operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 8)),
        st.tuples(st.just("hold"), st.integers(1, 150), st.integers(0, KEYS - 1)),
        st.tuples(st.just("capture"), st.integers(0, KEYS - 1)),
        st.tuples(st.just("release"), st.integers(0, KEYS - 1)),
        st.tuples(st.just("adjust"), st.integers(-120, 120).filter(bool), st.integers(0, KEYS - 1)),
        st.tuples(st.just("refund"), st.integers(0, 3), st.integers(1, 800), st.integers(0, KEYS - 1)),
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    _, pool = await migrated_pool("points")
    return pool


class Run:
    """One member's sequence: the keys it used and the holds it placed."""

    def __init__(
        self, app: PointsApplication, ledger: LedgerApplication, refunds: RefundApplication, member_id: str
    ) -> None:
        self.app, self.ledger, self.refunds, self.member_id = app, ledger, refunds, member_id
        self.prefix = new_id("run")
        self.holds: dict[int, str] = {}
        self.purchases: list[str] = []

    async def apply(self, operation: tuple[object, ...]) -> None:
        kind, *arguments = operation
        # A refusal the ledger is entitled to: not enough points, a key reused for other amounts.
        with contextlib.suppress(FailedPrecondition, AlreadyExists):
            await getattr(self, f"_{kind}")(*arguments)

    async def _earn(self, whole_usd: int) -> None:
        purchase_id = f"{self.prefix}-p{whole_usd}"
        amount = Money(whole_usd * 100, "USD")
        await self.app.record_purchase(Purchase(purchase_id, self.member_id, amount, (), datetime.now(UTC), ""))
        if purchase_id not in self.purchases:
            self.purchases.append(purchase_id)

    async def _hold(self, points: int, key: int) -> None:
        result = await self.ledger.hold(self.member_id, points, f"{self.prefix}-h{key}", timedelta(hours=1), "")
        self.holds[key] = str(result.hold.hold_id)

    async def _capture(self, key: int) -> None:
        if key in self.holds:
            await self.ledger.capture(self.holds[key])

    async def _release(self, key: int) -> None:
        if key in self.holds:
            await self.ledger.release(self.holds[key])

    async def _refund(self, which: int, amount_minor: int, key: int) -> None:
        if self.purchases:
            purchase_id = self.purchases[which % len(self.purchases)]
            refund = Refund(f"{self.prefix}-r{key}", purchase_id, Money(amount_minor, "USD"), datetime.now(UTC))
            await self.refunds.refund(refund)

    async def _adjust(self, points: int, key: int) -> None:
        await self.ledger.adjust(self.member_id, points, "property test", "hypothesis", f"{self.prefix}-a{key}")


@pytest.fixture
async def negative_balance_pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    """A points database whose program lets refunds take spent points, leaving the balance negative."""
    _, pool = await migrated_pool("points")
    await ProgramApplication(pool).apply(NEGATIVE_BALANCE_PROGRAM)
    return pool


async def check_sequence(pool: asyncpg.Pool, sequence: list[tuple[object, ...]]) -> None:
    app, ledger = PointsApplication(pool, 2), LedgerApplication(pool)
    run = Run(app, ledger, RefundApplication(pool, ProgramApplication(pool)), await member_with_points(app, 100))
    for operation in sequence:
        await run.apply(operation)
        after_first: Books = await books(pool, ledger, run.member_id)
        await run.apply(operation)
        assert await books(pool, ledger, run.member_id) == after_first, f"repeating {operation} changed the books"
        assert_balanced(after_first)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=operations)
async def test_random_operations_keep_the_books_balanced_and_repeats_change_nothing(
    pool: asyncpg.Pool, sequence: list[tuple[object, ...]]
) -> None:
    await check_sequence(pool, sequence)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=operations)
async def test_under_negative_balance_random_operations_keep_the_books_balanced(
    negative_balance_pool: asyncpg.Pool, sequence: list[tuple[object, ...]]
) -> None:
    await check_sequence(negative_balance_pool, sequence)
