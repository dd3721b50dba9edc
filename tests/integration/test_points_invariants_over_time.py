"""Property-based: sequences over time keep the ledger's documented invariants, and each operation does what the
docs say to the member's balances.

Sequences the older invariant test (test_points_invariants.py) does not generate: purchases dated in the past
(pending windows, a one-month expiry term, points that arrive expired), time moving on (holds running out,
pending points arriving, points expiring unposted), the expiry job at chosen times, refunds over debts and
overdrafts, and a referred member whose referral bonus a return may void. The clock is virtual
(points_over_time_support.Clock). After each step: the books balance (entries = balance = lots - overdrawn, no lot
negative), available + pending + held + points expired but not posted = entries, and the step's own effect
(expect_effect: a hold moves available to held, a capture spends held, a purchase adds pending or available less
the debt it repays, a refund takes its points in proportion and never held ones, the job posts only what had
expired). Each step but the clock's is then repeated and must change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from services.common.errors import FailedPrecondition
from services.points.ledger_application import AdjustResult, HoldResult
from services.points.program_application import ProgramApplication
from services.points.purchases import PurchaseResult
from services.points.refunds import RefundResult
from tests.integration.points_ledger_support import Books
from tests.integration.points_over_time_support import Clock, Member, program
from tests.integration.support import PoolFactory

KEYS = 3

buy = st.tuples(st.just("buy"), st.integers(5, 60), st.sampled_from([0, 0, 1, 2, 5, 20, 29, 40]))
step = st.one_of(
    buy,
    st.tuples(st.just("advance"), st.sampled_from([1, 2, 24, 72, 24 * 10, 24 * 31])),
    st.tuples(st.just("hold"), st.integers(1, 60), st.sampled_from([1, 2, 48]), st.integers(0, KEYS - 1)),
    st.tuples(st.just("hold"), st.integers(1, 60), st.sampled_from([1, 2, 48]), st.integers(0, KEYS - 1)),
    st.tuples(st.just("capture"), st.integers(0, KEYS - 1)),
    st.tuples(st.just("release"), st.integers(0, KEYS - 1)),
    st.tuples(st.just("adjust"), st.integers(-40, 40).filter(bool), st.integers(0, KEYS - 1)),
    st.tuples(st.just("refund"), st.integers(0, 3), st.sampled_from([10, 33, 50, 100]), st.integers(0, KEYS - 1)),
    st.tuples(st.just("refund"), st.integers(0, 3), st.sampled_from([10, 33, 50, 100]), st.integers(0, KEYS - 1)),
    st.tuples(st.just("expire")),
)
# A member who bought something first: most steps then have points to work on.
operations = st.tuples(st.lists(buy, min_size=1, max_size=3), st.lists(step, min_size=1, max_size=14)).map(
    lambda parts: parts[0] + parts[1]
)


@pytest.fixture
async def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("services.points.domain.utc_now", clock)
    return clock


async def pool_with(migrated_pool: PoolFactory, text: str) -> asyncpg.Pool:
    _, pool = await migrated_pool("points")
    await ProgramApplication(pool).apply(text)
    return pool


@pytest.fixture(params=["debt", "negative_balance"])
async def ledger_pool(request: pytest.FixtureRequest, migrated_pool: PoolFactory) -> AsyncIterator[asyncpg.Pool]:
    """A points database under a program whose refunds follow each `spent_points` policy in turn."""
    yield await pool_with(migrated_pool, program(request.param))


@pytest.fixture(params=["debt", "negative_balance"])
async def referral_pool(request: pytest.FixtureRequest, migrated_pool: PoolFactory) -> AsyncIterator[asyncpg.Pool]:
    """The same, under a program that pays a referral bonus."""
    yield await pool_with(migrated_pool, program(request.param, referral=True))


async def check(member: Member) -> None:
    state = await member.books()
    where = " / ".join(member.log)
    assert state.entries_sum == state.member_balance == state.lots_remaining - state.overdrawn, where
    assert state.lowest_remaining >= 0, where
    assert state.available >= -state.overdrawn, where
    assert state.pending >= 0 and state.held >= 0, where
    unposted = await member.unposted_expiry()
    assert state.available + state.pending + state.held + unposted == state.entries_sum, (state, unposted, where)
    owed = await member.owed()
    assert owed >= 0 and state.overdrawn >= 0, where
    assert not (owed and state.overdrawn), where  # one policy in force


@dataclass(frozen=True)
class Snap:
    books: Books
    owed: int
    unposted: int
    # Referral bonus points credited to the member, and what voids took back of them.
    bonus: int = 0
    voided: int = 0


async def snap(member: Member) -> Snap:
    state = await member.books()  # reads the balance first: what a lapsed hold freed settles then
    bonus = await member.pool.fetchval(
        """SELECT coalesce(sum(points), 0) FROM ledger_entries
            WHERE member_id = $1 AND idempotency_key LIKE 'referral:%'""",
        member.member_id,
    )
    return Snap(state, await member.owed(), await member.unposted_expiry(), int(bonus), await member.voided())


def expect_effect(member: Member, operation: tuple[object, ...], result: object, before: Snap, after: Snap) -> None:
    """What the documented semantics say the operation does to the member's balances."""
    kind = operation[0]
    b, a = before.books, after.books
    where = " / ".join(member.log)
    # Points past their expiry are gone already: whichever operation posts their expiry entry (a refund, a credit
    # arriving expired, the job) does not change what the member has. Entries are compared less them.
    entries_moved = (a.entries_sum - after.unposted) - (b.entries_sum - before.unposted)
    delta = (a.available - b.available, a.pending - b.pending, a.held - b.held, entries_moved)
    if kind == "hold":
        points = int(operation[1])  # type: ignore[call-overload]
        if isinstance(result, HoldResult) and not result.duplicate:
            assert delta == (-points, 0, points, 0), (delta, where)  # what a lapsed hold freed settled at the read
        elif isinstance(result, FailedPrecondition):
            assert points > b.available, (result, b, where)
    elif kind == "capture" and isinstance(result, HoldResult) and not result.duplicate:
        points = result.hold.points
        assert delta == (0, 0, -points, -points), (delta, where)
    elif kind == "release" and isinstance(result, HoldResult) and not result.duplicate:
        if result.status == "released":
            points = result.hold.points
            repaid = before.owed - after.owed  # the freed points of a refunded purchase settle its refund
            # Points the hold kept past their term are freed expired: gone, not available (docs/program.md).
            lapsed = after.unposted - before.unposted
            assert repaid >= 0 and 0 <= lapsed <= points, where
            assert delta == (points - repaid - lapsed, 0, -points, -repaid - lapsed), (delta, where)
    elif kind == "adjust":
        points = int(operation[1])  # type: ignore[call-overload]
        if isinstance(result, AdjustResult) and not result.duplicate:
            if points < 0:
                assert -points <= b.available, where
            assert delta == (points, 0, 0, points), (delta, where)
        elif isinstance(result, FailedPrecondition):
            assert points < 0 and -points > b.available, (result, where)
    elif kind == "buy" and isinstance(result, PurchaseResult) and not result.duplicate:
        points, terms, now = result.points_earned, result.terms, member.clock.now
        arrived_expired = terms.expires_at is not None and terms.expires_at <= now
        repaid = 0 if arrived_expired else min(before.owed, points)  # new points repay debt first
        assert after.owed == before.owed - repaid, (before, after, where)
        covered = 0 if arrived_expired else min(b.overdrawn, points)
        assert a.overdrawn == b.overdrawn - covered, (before, after, where)
        bonus = after.bonus - before.bonus  # a referral bonus, pending as the purchase's points are
        if not points or arrived_expired:
            expected = (0, 0, 0, 0)
        elif terms.available_at is not None and terms.available_at > now:
            expected = (covered, points - repaid - covered + bonus, 0, points - repaid + bonus)
        else:
            expected = (points - repaid + bonus, 0, 0, points - repaid + bonus)
        assert delta == expected, (delta, expected, terms, where)
    elif kind == "refund" and isinstance(result, RefundResult) and not result.duplicate:
        row = result.refund
        taken = row.points_reversed - row.points_owed - row.points_expired - row.points_overdrawn
        assert taken >= 0 and row.points_owed >= 0 and row.points_overdrawn >= 0, (row, where)
        assert a.held == b.held, (row, where)  # held points are never taken
        voided = after.voided - before.voided  # the referral bonus a return within the window voids
        assert voided in (0, before.bonus), (voided, before, where)
        assert entries_moved == -(taken + row.points_overdrawn + voided), (row, delta, where)
        lost = (a.available + a.pending) - (b.available + b.pending)
        assert lost == -(taken + row.points_overdrawn + voided), (row, delta, where)
        assert after.owed == before.owed + row.points_owed, (row, where)
        assert a.overdrawn == b.overdrawn + row.points_overdrawn, (row, where)
    elif kind == "advance":
        repaid = before.owed - after.owed  # at the read, what a hold that ran out freed
        assert repaid >= 0 and a.overdrawn <= b.overdrawn, where
        assert a.entries_sum == b.entries_sum - repaid and a.held <= b.held, (delta, where)
        assert after.unposted >= before.unposted, where
        total_after = a.available + a.pending + a.held + after.unposted + repaid
        assert total_after == b.available + b.pending + b.held + before.unposted, (before, after, where)
    elif kind == "expire":
        repaid = before.owed - after.owed
        assert delta == (0, 0, 0, -repaid), (delta, before.unposted, where)
        assert after.unposted == 0, where


def label(operation: tuple[object, ...], result: object, before: Snap, after: Snap) -> None:
    if currently_in_test_context():
        _label(operation, result, before, after)


def _label(operation: tuple[object, ...], result: object, before: Snap, after: Snap) -> None:
    event(f"{operation[0]} -> {type(result).__name__}")
    if isinstance(result, RefundResult) and not result.duplicate:
        row = result.refund
        for name in ("points_owed", "points_overdrawn", "points_expired"):
            if getattr(row, name):
                event(f"refund with {name}")
    if before.owed and after.owed < before.owed:
        event(f"{operation[0]} repaid debt")
    if before.books.overdrawn and after.books.overdrawn < before.books.overdrawn:
        event(f"{operation[0]} covered overdraft")
    if before.unposted:
        event(f"{operation[0]} with unposted expiry")


async def run(pool: asyncpg.Pool, clock: Clock, sequence: list[tuple[object, ...]], *, referred: bool = False) -> None:
    clock.advance(timedelta(0))
    referrer = await Member.enrolled(pool, clock) if referred else None
    member = await Member.enrolled(pool, clock, referrer.member_id if referrer else "")
    refunded: dict[str, tuple[int, int]] = {}  # purchase id: minor refunded, points reversed
    for step, operation in enumerate(sequence):
        member.step = step
        member.log.append(repr(operation))
        before = await snap(member)
        result = await member.apply(operation)
        after = await snap(member)
        member.log.append(f"-> {type(result).__name__}")
        label(operation, result, before, after)
        await check(member)
        if referrer is not None:
            await check(referrer)
            kept = (await snap(referrer)).bonus - await referrer.voided()
            assert kept in (0, 30), (kept, member.log)
        expect_effect(member, operation, result, before, after)
        if isinstance(result, RefundResult) and not result.duplicate:
            purchase_id = result.refund.purchase_id
            earned = next(r for r in member.results if r[0] == purchase_id)[1]
            paid = dict(member.purchases)[purchase_id]
            minor, points = refunded.get(purchase_id, (0, 0))
            minor, points = minor + result.refund.amount_minor, points + result.refund.points_reversed
            refunded[purchase_id] = (minor, points)
            assert points == earned * minor // paid, (points, earned, minor, paid, member.log)
        if operation[0] not in ("advance", "expire"):
            first = after.books
            await member.apply(operation)
            assert await member.books() == first, f"repeating {operation} changed the books: {member.log}"


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# Holds that ran out free a refunded purchase's own points, which settle part of its debt at the next read.
HOLDS_RUN_OUT_OVER_A_DEBT = [
    ("buy", 38, 0),
    ("buy", 49, 0),
    ("advance", 72),
    ("adjust", -27, 0),
    ("hold", 43, 1, 0),
    ("hold", 59, 1, 2),
    ("hold", 20, 1, 1),
    ("adjust", -23, 2),
    ("capture", 1),
    ("buy", 28, 0),
    ("buy", 24, 0),
    ("expire",),
    ("refund", 0, 33, 1),
    ("advance", 2),
]

# A hold kept its points past their term; released, they are freed expired, not available.
RELEASED_PAST_THEIR_TERM = [
    ("buy", 11, 0),
    ("buy", 19, 0),
    ("buy", 15, 0),
    ("advance", 1),
    ("buy", 26, 29),
    ("adjust", 19, 0),
    ("buy", 59, 0),
    ("hold", 27, 48, 1),
    ("advance", 24),
    ("capture", 0),
    ("hold", 3, 1, 0),
    ("buy", 57, 0),
    ("release", 1),
    ("adjust", 6, 0),
]


@SETTINGS
@given(sequence=operations)
@example(sequence=HOLDS_RUN_OUT_OVER_A_DEBT)
@example(sequence=RELEASED_PAST_THEIR_TERM)
async def test_over_time_the_books_balance(
    ledger_pool: asyncpg.Pool, clock: Clock, sequence: list[tuple[object, ...]]
) -> None:
    await run(ledger_pool, clock, sequence)


@SETTINGS
@given(sequence=operations)
async def test_a_referred_member_over_time_the_books_balance(
    referral_pool: asyncpg.Pool, clock: Clock, sequence: list[tuple[object, ...]]
) -> None:
    await run(referral_pool, clock, sequence, referred=True)
