"""Every points event that moves a balance states the member's balance after it, as the ledger has it then:
readers (the notifications summary) keep the latest without asking the points service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, Refund, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import books, events_of, new_id

DAY = timedelta(days=1)


async def balance_stated(pool: asyncpg.Pool, member_id: str, kind: type) -> int:
    """The balance_after of the member's latest event of `kind`; it must be set."""
    *_, latest = await events_of(pool, member_id, kind)
    assert latest.HasField("balance_after"), f"{kind.__name__} states no balance"  # type: ignore[attr-defined]
    return int(latest.balance_after)  # type: ignore[attr-defined]


async def test_redemptions_adjustments_refunds_and_expiries_state_the_balance_after_them(
    pool: asyncpg.Pool, app: PointsApplication, ledger: LedgerApplication
) -> None:
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    purchase_id = new_id("p")
    await app.record_purchase(Purchase(purchase_id, member_id, Money(10_000, "USD"), (), datetime.now(UTC), ""))

    async def ledger_balance() -> int:
        return (await books(pool, ledger, member_id)).member_balance

    held = await ledger.hold(member_id, 50, new_id("h"), timedelta(hours=1), "coffee")
    await ledger.capture(str(held.hold.hold_id))
    assert await balance_stated(pool, member_id, events.PointsRedeemed) == await ledger_balance() == 150

    await ledger.adjust(member_id, -20, "correction", "agent-7", new_id("a"))
    assert await balance_stated(pool, member_id, events.PointsAdjusted) == await ledger_balance() == 130

    refunds = RefundApplication(pool, ProgramApplication(pool))
    await refunds.refund(Refund(new_id("r"), purchase_id, Money(5_000, "USD"), datetime.now(UTC)))
    assert await balance_stated(pool, member_id, events.PointsReversed) == await ledger_balance() == 30

    async with pool.acquire() as connection:  # as a program's expiry term would set it when earning
        await connection.execute(
            "UPDATE lots SET expires_at = now() + interval '1 day' WHERE member_id = $1", member_id
        )
    await ExpiryJob(pool, ProgramApplication(pool), remind_before=30 * DAY).run_once(utc_now() + 2 * DAY)
    assert await balance_stated(pool, member_id, events.PointsExpired) == await ledger_balance() == 0
