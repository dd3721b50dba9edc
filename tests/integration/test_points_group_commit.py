"""Concurrent purchases share transactions (group commit) on real PostgreSQL, with each answered as if alone."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg
import pytest

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.points import purchases_store
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, utc_now
from services.points.ledger_application import LedgerApplication
from services.points.purchases import PurchaseResult
from tests.integration.points_ledger_support import books
from tests.integration.support import eventually
from tests.integration.test_points_ledger import RATE, enrolled, new_id, purchase_for


async def test_a_burst_of_purchases_is_recorded_once_each_in_shared_transactions(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    members = [await enrolled(app) for _ in range(20)]
    purchases = [purchase_for(member, amount_minor=1000 * (1 + i % 3)) for i in range(3) for member in members]

    results = await asyncio.gather(*(app.record_purchase(p) for p in purchases))

    assert [r.points_earned for r in results] == [p.amount.amount_minor // 100 * RATE for p in purchases]
    assert not any(r.duplicate for r in results)
    for member in members:
        earned = sum(p.amount.amount_minor // 100 * RATE for p in purchases if p.member_id == member)
        assert await pool.fetchval("SELECT balance FROM members WHERE member_id = $1", member) == earned
        mine = [r for r, p in zip(results, purchases, strict=True) if p.member_id == member]
        # A member's purchases ran one after another: each saw the balance the one before left.
        assert sorted(r.balance for r in mine)[-1] == earned
    recorded_in = await pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM purchases WHERE member_id = ANY($1::text[])", members
    )
    assert recorded_in < len(purchases), "the burst should have shared transactions"
    earned_events = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type LIKE '%PointsEarned' AND message_key = ANY($1::text[])", members
    )
    assert earned_events == len(purchases)


async def test_in_a_shared_batch_bad_purchases_fail_alone_and_repeats_answer_the_first_result(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    alice, bob = await enrolled(app), await enrolled(app)
    first = purchase_for(alice)
    earlier = await app.record_purchase(first)
    burst = [
        purchase_for(bob),
        replace(first),  # the same purchase again: the first result
        purchase_for("nobody-enrolled"),
        replace(purchase_for(alice), amount=Money(-5, "USD")),
        replace(first, member_id=bob),  # another member's purchase id
        purchase_for(alice),
        replace(first, amount=Money(1, "USD")),  # its id with another amount
    ]

    outcomes = await asyncio.gather(*(app.record_purchase(p) for p in burst), return_exceptions=True)

    assert isinstance(outcomes[0], PurchaseResult) and not outcomes[0].duplicate
    assert isinstance(outcomes[1], PurchaseResult) and outcomes[1].duplicate
    assert outcomes[1].points_earned == earlier.points_earned
    assert isinstance(outcomes[2], NotFound)
    assert isinstance(outcomes[3], InvalidArgument)
    assert isinstance(outcomes[4], AlreadyExists)
    assert isinstance(outcomes[5], PurchaseResult) and not outcomes[5].duplicate
    assert isinstance(outcomes[6], AlreadyExists) and "different amount" in str(outcomes[6])
    balances = dict(await pool.fetch("SELECT member_id, balance FROM members WHERE member_id IN ($1, $2)", alice, bob))
    assert balances == {alice: earlier.points_earned + outcomes[5].points_earned, bob: outcomes[0].points_earned}


@pytest.mark.parametrize("copies", [2, 8])
async def test_the_same_purchase_sent_concurrently_earns_once(app: PointsApplication, copies: int) -> None:
    member = await enrolled(app)
    purchase = purchase_for(member, purchase_id=new_id("order"))

    results = await asyncio.gather(*(app.record_purchase(purchase) for _ in range(copies)))

    assert sum(not r.duplicate for r in results) == 1
    assert {r.points_earned for r in results} == {purchase.amount.amount_minor // 100 * RATE}


async def test_a_batch_finds_earlier_purchases_by_key_whatever_plan_is_cached(
    app: PointsApplication, pool: asyncpg.Pool
) -> None:
    # The plan a connection keeps for a statement may date from when purchases was nearly empty;
    # a batch must still look up its purchase ids, never read the whole table.
    member = await enrolled(app)
    for _ in range(3):
        await app.record_purchase(purchase_for(member))
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await purchases_store.lock_buyers(connection, [purchase_for(member)])
        whole_table_reads = await connection.fetchval(
            "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'purchases'"
        )
    assert whole_table_reads == 0


async def test_a_purchase_id_recorded_concurrently_with_another_amount_credits_nothing(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    """Two replicas (or the Kafka consumer and the gRPC API) get the same purchase id at once: the first
    earns nothing (under one whole dollar), the second, with another amount, must be refused and write nothing."""
    kafka_side, grpc_side = PointsApplication(pool, 2), PointsApplication(pool, 2)
    member_id = new_id("m")
    await kafka_side.enroll(Enrollment(member_id, "", "", ""))
    purchase_id = new_id("p")
    async with unit_of_work(pool) as connection:  # the consumer's inbox transaction, not committed yet
        first = Purchase(purchase_id, member_id, Money(50, "USD"), (), utc_now(), "")
        assert (await kafka_side.record_purchase_in(connection, first)).points_earned == 0
        second = Purchase(purchase_id, member_id, Money(10000, "USD"), (), utc_now(), "")
        racing = asyncio.create_task(grpc_side.record_purchase(second))
        await eventually(lambda: _waiting_on_a_lock(pool), what="the second purchase waiting on the member's lock")
    refused = None
    try:
        await racing
    except AlreadyExists as error:
        refused = error
    state = await books(pool, ledger, member_id)
    orphans = await pool.fetch(
        """SELECT e.idempotency_key, e.points FROM ledger_entries e
            WHERE e.member_id = $1 AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.entry_id = e.entry_id)""",
        member_id,
    )
    assert refused is not None
    assert (state.entries_sum, [dict(o) for o in orphans]) == (0, [])


async def _waiting_on_a_lock(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) > 0 FROM pg_locks WHERE NOT granted"))
