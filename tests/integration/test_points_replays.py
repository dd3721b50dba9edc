"""A repeated idempotency key answers exactly the first result, and a key reused for another request is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from loyalty.common.v1 import common_pb2
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc, program_pb2, program_pb2_grpc

from services.common.db import create_pool
from services.common.errors import AlreadyExists, InvalidArgument
from services.common.events import timestamp
from services.common.migrations import apply, service_migrations
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import books, member_with_points, new_id


async def test_a_repeated_purchase_answers_the_balance_it_was_first_recorded_with(
    app: PointsApplication,
) -> None:
    """RecordPurchaseResponse.balance is "Balance after the purchase was recorded" and a repeat "returns the first
    result": a later purchase of the member must not change what the repeat answers."""
    member_id = await member_with_points(app, 0)
    first_purchase = Purchase(new_id("p"), member_id, Money(4300, "USD"), (), datetime.now(UTC), "")
    first = await app.record_purchase(first_purchase)
    assert (first.points_earned, first.balance) == (86, 86)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), datetime.now(UTC), ""))

    again = await app.record_purchase(first_purchase)

    assert again.duplicate
    assert again.balance == first.balance  # answers 286, the balance now


async def test_an_adjustment_key_reused_with_another_reason_and_actor_is_refused(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    """Two different goodwill credits of the same size under one key (a ticket id reused): the second is another
    adjustment, not a repeat. Answered duplicate, the caller believes it was applied, and the ledger's
    "reason (by actor)" names neither its reason nor its actor."""
    member_id = await member_with_points(app, 0)
    key = new_id("a")
    await ledger.adjust(member_id, 500, "goodwill: delayed flight", "agent-7", key)
    before = await books(pool, ledger, member_id)

    with pytest.raises(AlreadyExists, match="idempotency_key"):
        await ledger.adjust(member_id, 500, "goodwill: lost baggage", "agent-9", key)
    assert await books(pool, ledger, member_id) == before


async def test_a_refund_id_reused_in_another_currency_is_refused(pool: asyncpg.Pool, app: PointsApplication) -> None:
    """A refund in a currency other than the purchase's is INVALID_ARGUMENT when new; resent under a refund id
    already used it is answered as a duplicate of the USD refund instead."""
    refunds = RefundApplication(pool, ProgramApplication(pool))
    member_id = await member_with_points(app, 0)
    purchase_id = new_id("p")
    await app.record_purchase(Purchase(purchase_id, member_id, Money(10000, "USD"), (), datetime.now(UTC), ""))
    refund_id = new_id("r")
    await refunds.refund(Refund(refund_id, purchase_id, Money(5000, "USD"), datetime.now(UTC)))
    with pytest.raises(InvalidArgument, match="currency"):
        await refunds.refund(Refund(new_id("r"), purchase_id, Money(5000, "EUR"), datetime.now(UTC)))

    with pytest.raises((AlreadyExists, InvalidArgument)):
        await refunds.refund(Refund(refund_id, purchase_id, Money(5000, "EUR"), datetime.now(UTC)))


async def test_a_purchase_recorded_before_balances_were_kept_answers_the_balance_now(
    pool: asyncpg.Pool, app: PointsApplication
) -> None:
    """Purchases recorded before migration 027 kept no balance: a repeat of one answers the balance at the repeat,
    as every repeat did then."""
    member_id = await member_with_points(app, 0)
    first_purchase = Purchase(new_id("p"), member_id, Money(4300, "USD"), (), datetime.now(UTC), "")
    await app.record_purchase(first_purchase)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), datetime.now(UTC), ""))
    await pool.execute("UPDATE purchases SET balance_after = NULL WHERE purchase_id = $1", first_purchase.purchase_id)

    again = await app.record_purchase(first_purchase)

    assert (again.duplicate, again.balance) == (True, 286)


async def test_a_refund_id_reused_for_another_refund_names_the_field_and_a_repeat_answers_the_first(
    pool: asyncpg.Pool, app: PointsApplication
) -> None:
    refunds = RefundApplication(pool, ProgramApplication(pool))
    member_id = await member_with_points(app, 0)
    purchase_id = new_id("p")
    await app.record_purchase(Purchase(purchase_id, member_id, Money(10000, "USD"), (), datetime.now(UTC), ""))
    refund_id = new_id("r")
    first = await refunds.refund(Refund(refund_id, purchase_id, Money(5000, "USD"), datetime.now(UTC)))
    before = await books(pool, LedgerApplication(pool), member_id)

    for amount, field in ((Money(5000, "EUR"), "amount.currency_code"), (Money(4000, "USD"), "amount.amount_minor")):
        with pytest.raises(AlreadyExists, match=f"^refund_id: already recorded with a different {field}$"):
            await refunds.refund(Refund(refund_id, purchase_id, amount, datetime.now(UTC)))
    again = await refunds.refund(Refund(refund_id, purchase_id, Money(5000, "USD"), datetime.now(UTC)))

    assert (again.duplicate, again.refund) == (True, first.refund)
    assert await books(pool, LedgerApplication(pool), member_id) == before


PER_DAY_CAP = """
id: capped
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
  caps: {per_day: 1000}
"""


async def record_twice(
    points: points_pb2_grpc.PointsServiceStub, member_id: str, amount_minor: int
) -> tuple[pb.RecordPurchaseResponse, pb.RecordPurchaseResponse]:
    request = pb.RecordPurchaseRequest(
        purchase_id=new_id("p"),
        member_id=member_id,
        amount=common_pb2.Money(amount_minor=amount_minor, currency_code="USD"),
        occurred_at=timestamp(datetime.now(UTC)),
    )
    return await points.RecordPurchase(request), await points.RecordPurchase(request)


def as_repeat(first: pb.RecordPurchaseResponse) -> pb.RecordPurchaseResponse:
    repeat = pb.RecordPurchaseResponse()
    repeat.CopyFrom(first)
    repeat.duplicate = True
    return repeat


async def test_a_repeated_purchase_that_earned_nothing_answers_its_breakdown_again(channel: grpc.aio.Channel) -> None:
    """No ledger entry keeps the breakdown of a purchase below one whole unit: its repeat still answers it."""
    points = points_pb2_grpc.PointsServiceStub(channel)
    member_id = new_id("m")
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))

    first, again = await record_twice(points, member_id, 50)

    assert [(c.source, c.points) for c in first.breakdown] == [("base", 0)]
    assert again == as_repeat(first)


async def test_a_repeated_purchase_the_daily_cap_took_to_nothing_answers_the_cap_again(
    channel: grpc.aio.Channel,
) -> None:
    points = points_pb2_grpc.PointsServiceStub(channel)
    await program_pb2_grpc.ProgramServiceStub(channel).ApplyProgram(
        program_pb2.ApplyProgramRequest(definition=PER_DAY_CAP)
    )
    member_id = new_id("m")
    await points.EnrollMember(pb.EnrollMemberRequest(member_id=member_id))
    await record_twice(points, member_id, 100_00)  # the day's 1000 points

    first, again = await record_twice(points, member_id, 10_00)

    assert [(c.source, c.points) for c in first.breakdown] == [("base", 100), ("cap:per_day", -100)]
    assert again == as_repeat(first)


async def test_a_purchase_that_earned_nothing_before_its_breakdown_was_kept_answers_none_when_repeated(
    create_database: Callable[[], Awaitable[str]],
) -> None:
    """Before migration 033 no row kept the breakdown of a purchase that earned nothing, and it is not invented:
    such a purchase stays as it was, and its repeat answers an empty breakdown, as it did then."""
    url = await create_database()
    migrations = service_migrations("points")
    connection = await asyncpg.connect(url)
    try:
        await apply(connection, [m for m in migrations if not (m.component == "points" and m.version >= 33)])
        await connection.execute(
            """INSERT INTO members (member_id, tier) VALUES ('ada', 'base');
               INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, occurred_at,
                                      points_earned, balance_after)
                    VALUES ('small', 'ada', 50, 'USD', now(), 0, 0)"""
        )
        await apply(connection, migrations)
    finally:
        await connection.close()
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        small = Purchase("small", "ada", Money(50, "USD"), (), datetime.now(UTC), "")
        again = await PointsApplication(pool, 2).record_purchase(small)
    finally:
        await pool.close()

    assert (again.duplicate, again.points_earned, again.balance, again.breakdown) == (True, 0, 0, ())
