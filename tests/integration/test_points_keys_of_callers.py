"""Ledger keys built from ids a caller chooses (refund ids, member ids, activity keys, all of which may hold ':')
never meet another caller's: each refund, member and activity keeps its own effect."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.points.application import PointsApplication
from services.points.bonuses import ActivityRecord
from services.points.domain import Enrollment, Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import assert_balanced, books, events_of, new_id

PROGRAM = """
id: keys-club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 2}
pending:
  days: 30
bonuses:
  referral: {referrer_points: 300, referee_points: 150, minimum_spend: 25}
  activities:
    - {id: review, points: 50}
"""


async def keys_app(pool: asyncpg.Pool) -> tuple[PointsApplication, ProgramApplication]:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM)
    return PointsApplication(pool, 2, programs), programs


def purchase(member_id: str, whole_usd: int) -> Purchase:
    return Purchase(new_id("p"), member_id, Money(whole_usd * 100, "USD"), (), datetime.now(UTC), "")


async def test_a_refund_id_shaped_like_a_referral_void_leaves_the_void_of_another_refund_its_key(
    pool: asyncpg.Pool,
) -> None:
    app, programs = await keys_app(pool)
    refunds = RefundApplication(pool, programs)
    referrer = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    referee = (await app.enroll(Enrollment(new_id("m"), "", "", "", referrer_member_id=referrer))).member_id
    other = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    others_purchase, referees_purchase = purchase(other, 100), purchase(referee, 30)
    await app.record_purchase(others_purchase)
    await app.record_purchase(referees_purchase)  # pays both referral bonuses, pending for 30 days

    refund_id = new_id("r")
    lookalike = Refund(
        f"{refund_id}:referral:{referee}:referee", others_purchase.purchase_id, Money(1000, "USD"), datetime.now(UTC)
    )
    await refunds.refund(lookalike)
    # 10 USD back leaves 20, below the referral's minimum spend: both bonuses are voided.
    await refunds.refund(Refund(refund_id, referees_purchase.purchase_id, Money(1000, "USD"), datetime.now(UTC)))

    voided = await events_of(pool, referrer, events.PointsReversed)
    assert [e.points_taken for e in voided] == [300]  # type: ignore[attr-defined]
    ledger = LedgerApplication(pool, programs)
    for member_id in (referrer, referee, other):
        assert_balanced(await books(pool, ledger, member_id))
    assert (await ledger.balances(referrer)).pending == 0


async def test_activity_keys_of_members_whose_ids_hold_colons_are_their_own(pool: asyncpg.Pool) -> None:
    app, _ = await keys_app(pool)
    first = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    second = (await app.enroll(Enrollment(f"{first}:x", "", "", ""))).member_id
    now = datetime.now(UTC)
    # Under "activity:<member>:<key>" both would be activity:<first>:x:y.
    credited = await app.record_activity(ActivityRecord(first, "review", "x:y", now))
    also_credited = await app.record_activity(ActivityRecord(second, "review", "y", now))
    assert (credited.duplicate, also_credited.duplicate) == (False, False)
    assert [(await app.member(m)).balance for m in (first, second)] == [50, 50]


async def test_an_activity_credited_under_the_key_form_before_answers_its_repeat_as_a_repeat(
    pool: asyncpg.Pool,
) -> None:
    app, _ = await keys_app(pool)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    now = datetime.now(UTC)
    first = await app.record_activity(ActivityRecord(member_id, "review", "review-1", now))
    async with pool.acquire() as connection, connection.transaction():
        # As credited before the key took '/' (the ledger is append-only: a migration's own exception).
        await connection.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_is_append_only")
        await connection.execute(
            "UPDATE ledger_entries SET idempotency_key = $2 WHERE entry_id = $1",
            first.entry.entry_id,
            f"activity:{member_id}:review-1",
        )
        await connection.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_is_append_only")

    again = await app.record_activity(ActivityRecord(member_id, "review", "review-1", now))
    assert (again.duplicate, again.entry.entry_id) == (True, first.entry.entry_id)
    assert (await app.member(member_id)).balance == 50
