"""A member's ledger driven through the application layer on a virtual clock, for the property tests over time.

Every clock the points service reads is services.points.domain.utc_now (the database's own now() only stamps
entries and enrolments); tests replace it with `Clock`, which starts ahead of the real time and only moves forward,
so lots written by the database are never available before the clock says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from services.common.errors import AlreadyExists, FailedPrecondition
from services.points import ledger as ledger_rules
from services.points import lots_store
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, Refund
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import Books, books, new_id


class Clock:
    """Kept an hour ahead of the real time at least: the database stamps entries with its own now(), and a lot is
    never available before its entry was written, so a clock behind it would see new credits as pending."""

    LEAD = timedelta(hours=1)

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + self.LEAD

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = max(self.now + delta, datetime.now(UTC) + self.LEAD)


def program(
    policy: str, *, pending_days: int = 3, months: int | None = 1, inactivity: int | None = None, referral: bool = False
) -> str:
    expiry = []
    if months is not None:
        expiry.append(f"months_after_earning: {months}")
    if inactivity is not None:
        expiry.append(f"inactivity_months: {inactivity}")
    text = (
        "id: review-club\neffective_from: 2020-01-01\ncurrency: USD\n"
        "earning:\n  base_rates: {USD: 2}\n"
        f"refunds:\n  spent_points: {policy}\n"
    )
    if pending_days:
        text += f"pending:\n  days: {pending_days}\n"
    if expiry:
        text += "expiry: {" + ", ".join(expiry) + "}\n"
    if referral:
        text += "bonuses:\n  referral: {referrer_points: 30, referee_points: 20, minimum_spend: 25.00}\n"
    return text


@dataclass
class Member:
    pool: asyncpg.Pool
    clock: Clock
    member_id: str
    app: PointsApplication
    ledger: LedgerApplication
    refunds: RefundApplication
    job: ExpiryJob
    prefix: str = field(default_factory=lambda: new_id("run"))
    holds: dict[int, str] = field(default_factory=dict)
    purchases: list[tuple[str, int]] = field(default_factory=list)  # (purchase id, amount minor)
    log: list[str] = field(default_factory=list)
    step: int = 0
    results: list[tuple[str, int]] = field(default_factory=list)  # (purchase id, points earned)

    @classmethod
    async def enrolled(cls, pool: asyncpg.Pool, clock: Clock, referrer: str = "") -> Member:
        programs = ProgramApplication(pool)
        app = PointsApplication(pool, 2, programs)
        member_id = new_id("m")
        await app.enroll(Enrollment(member_id, "", "", "", referrer_member_id=referrer))
        return cls(
            pool,
            clock,
            member_id,
            app,
            LedgerApplication(pool, programs),
            RefundApplication(pool, programs),
            ExpiryJob(pool, programs),
        )

    async def apply(self, operation: tuple[object, ...]) -> object:
        """The operation's result (None for those that have none), or the refusal the ledger answered."""
        kind, *arguments = operation
        try:
            return await getattr(self, f"_{kind}")(*arguments)
        except (FailedPrecondition, AlreadyExists) as refusal:
            return refusal

    async def _buy(self, whole_usd: int, age_days: int) -> object:
        purchase_id = f"{self.prefix}-p{self.step}"
        occurred = self.clock.now - timedelta(days=age_days)
        amount = Money(whole_usd * 100, "USD")
        result = await self.app.record_purchase(Purchase(purchase_id, self.member_id, amount, (), occurred, ""))
        if purchase_id not in [p for p, _ in self.purchases]:
            self.purchases.append((purchase_id, whole_usd * 100))
            self.results.append((purchase_id, result.points_earned))
        return result

    async def _advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    async def _hold(self, points: int, ttl_hours: int, key: int) -> object:
        result = await self.ledger.hold(self.member_id, points, f"{self.prefix}-h{key}", timedelta(hours=ttl_hours), "")
        self.holds[key] = str(result.hold.hold_id)
        return result

    async def _capture(self, key: int) -> object:
        if key in self.holds:
            return await self.ledger.capture(self.holds[key])
        return None

    async def _release(self, key: int) -> object:
        if key in self.holds:
            return await self.ledger.release(self.holds[key])
        return None

    async def _adjust(self, points: int, key: int) -> object:
        return await self.ledger.adjust(self.member_id, points, "review", "hypothesis", f"{self.prefix}-a{key}")

    async def _refund(self, which: int, percent: int, key: int) -> object:
        if not self.purchases:
            return None
        purchase_id, amount = self.purchases[which % len(self.purchases)]
        minor = max(1, amount * percent // 100)
        refund = Refund(f"{self.prefix}-r{key}-{which}", purchase_id, Money(minor, "USD"), self.clock.now)
        return await self.refunds.refund(refund)

    async def _expire(self) -> None:
        await self.job.run_once(self.clock.now)

    async def books(self) -> Books:
        # The balance read first: for a member who owes points it settles what a hold that ran out freed, and the
        # tables are then read as it left them (books() reads them before its own balance read).
        await self.ledger.balances(self.member_id)
        return await books(self.pool, self.ledger, self.member_id)

    async def unposted_expiry(self) -> int:
        """Points past their expiry that the expiry job has not taken off yet (and no hold keeps)."""
        async with self.pool.acquire() as connection:
            lots = await lots_store.open_lots(connection, self.member_id)
            holds = await lots_store.open_holds(connection, self.member_id, self.clock.now)
        return sum(draw.points for draw in ledger_rules.draws_to_expire(lots, holds, self.clock.now))

    async def voided(self) -> int:
        """Points the member's referral bonuses voided (a return within the pending window) took back."""
        voided = await self.pool.fetchval(
            """SELECT coalesce(sum(-points), 0) FROM ledger_entries
                WHERE member_id = $1 AND idempotency_key LIKE 'void:%'""",
            self.member_id,
        )
        return int(voided)

    async def owed(self) -> int:
        return int(await self.pool.fetchval("SELECT points_owed FROM members WHERE member_id = $1", self.member_id))
