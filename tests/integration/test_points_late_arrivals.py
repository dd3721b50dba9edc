"""Activity reported late and programs changed since: each is judged by the rules that apply to it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.points import purchases_store
from services.points.application import PointsApplication
from services.points.bonuses import ActivityRecord
from services.points.domain import Enrollment, Money, Purchase, Refund, utc_now
from services.points.expiry import ExpiryJob
from services.points.ledger_application import LedgerApplication
from services.points.program import add_months
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from tests.integration.points_ledger_support import books, events_of, new_id

DAY = timedelta(days=1)


async def member_under(pool: asyncpg.Pool, definition: str) -> tuple[ProgramApplication, PointsApplication, str]:
    """The program applied, the application pricing by it, and a new member."""
    programs = ProgramApplication(pool)
    await programs.apply(definition)
    app = PointsApplication(pool, 2, programs)
    member_id = new_id("m")
    await app.enroll(Enrollment(member_id, "", "", ""))
    return programs, app, member_id


TERM = """
id: term
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 2}}
expiry: {months_after_earning: 24}
"""


async def test_late_purchase_points_due_to_expire_do_not_escape_expiry_by_backing_an_older_hold(
    pool: asyncpg.Pool, ledger: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs, app, member_id = await member_under(pool, TERM)
    now = utc_now()
    # 200 points earned now (expire in 24 months), 100 of them held for a redemption.
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), now, ""))
    hold = await ledger.hold(member_id, 100, new_id("h"), 10 * DAY, "")
    # Then a purchase made almost 24 months ago arrives: its 20 points expire in a day.
    made = add_months(utc_now(), -24) + DAY
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(1000, "USD"), (), made, ""))

    # Two days on (the hold is still open) those 20 points must expire: the hold reserved 100 of the
    # 200 points it was taken on; the late lot did not exist then.
    later = utc_now() + 2 * DAY
    report = await ExpiryJob(pool, programs).run_once(later)
    monkeypatch.setattr("services.points.domain.utc_now", lambda: later)
    await ledger.capture(str(hold.hold.hold_id))
    state = await books(pool, ledger, member_id)
    expired = await events_of(pool, member_id, events.PointsExpired)
    # 200 + 20 - 20 expired - 100 redeemed = 100 left.
    assert ([e.points for e in expired], state.entries_sum) == ([20], 100), report  # type: ignore[attr-defined]


DORMANT_WITH_ACTIVITIES = """
id: dormant
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 2}}
expiry: {inactivity_months: 24}
bonuses:
  activities:
    - {id: review, points: 50, limit: {count: 10, per: month}}
"""


async def test_an_activity_reported_late_is_activity_of_the_day_it_happened(
    pool: asyncpg.Pool, ledger: LedgerApplication
) -> None:
    """docs/program.md, expiry.inactivity_months: activity counts "on the day it happened", a configured
    action (RecordActivity) included, exactly as a purchase sent late counts on its occurred_at."""
    programs, app, member_id = await member_under(pool, DORMANT_WITH_ACTIVITIES)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now(), ""))
    await pool.execute(  # as if the member had enrolled and last earned 30 months ago
        """UPDATE members SET last_activity_at = now() - interval '30 months',
                              enrolled_at = now() - interval '30 months' WHERE member_id = $1""",
        member_id,
    )
    # A review written 26 months ago, reported only now: still nothing done for more than 24 months.
    await app.record_activity(ActivityRecord(member_id, "review", new_id("k"), utc_now() - 26 * 31 * DAY))
    await ExpiryJob(pool, programs).run_once(utc_now() + timedelta(seconds=5))
    state = await books(pool, ledger, member_id)
    assert (state.entries_sum, state.available) == (0, 0)


def tiered(effective_from: str, gold: int) -> str:
    return f"""
id: tiered
effective_from: {effective_from}
currency: USD
earning: {{base_rates: {{USD: 2}}}}
tiers:
  window: rolling
  window_months: 12
  levels:
    - {{name: member, threshold: 0}}
    - {{name: gold, threshold: {gold}}}
"""


async def test_a_late_purchase_does_not_upgrade_by_the_thresholds_of_a_superseded_version(pool: asyncpg.Pool) -> None:
    programs, app, member_id = await member_under(pool, tiered("2020-01-01", 100))
    # Version 2, in force since an hour ago, makes gold far harder to reach.
    since = (utc_now() - timedelta(hours=1)).isoformat()
    await programs.apply(tiered(since, 100_000))
    # A purchase made two hours ago (priced by version 1: 200 points) reaches the service now.
    made = utc_now() - timedelta(hours=2)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), made, ""))
    # 200 points in the window: version 2, in force now, needs 100,000 for gold.
    assert (await app.member(member_id)).tier == "member"


TERM_WITH_ACTIVITIES = (
    TERM
    + """bonuses:
  activities:
    - {id: review, points: 50, limit: {count: 10, per: month}}
"""
)


async def test_a_debit_never_takes_the_points_an_open_hold_reserved(
    pool: asyncpg.Pool, ledger: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs, app, member_id = await member_under(pool, TERM_WITH_ACTIVITIES)
    start = utc_now()
    # 200 points that expire in 2 days (a purchase reported late), 100 of them held for a redemption.
    made = add_months(start, -24) + 2 * DAY
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), made, ""))
    hold = await ledger.hold(member_id, 100, new_id("h"), 10 * DAY, "")
    # 50 more, from an action reported late, expiring in 5 days; then a correction takes 150 of the 150 free.
    await app.record_activity(ActivityRecord(member_id, "review", new_id("k"), add_months(start, -24) + 5 * DAY))
    assert (await ledger.balances(member_id)).available == 150
    await ledger.adjust(member_id, -150, "correction", "agent-1", new_id("adj"))
    assert (await ledger.balances(member_id)).available == 0

    # Six days on, everything has expired, but the hold (open for 10 days) still has its 100 points.
    later = start + 6 * DAY
    await ExpiryJob(pool, programs).run_once(later)
    monkeypatch.setattr("services.points.domain.utc_now", lambda: later)
    balances = await ledger.balances(member_id)
    print("balances six days on:", balances)  # available=-50, held=100
    captured = await ledger.capture(str(hold.hold.hold_id))  # FailedPrecondition: 100 needed, 0 spendable
    assert captured.status == "captured"
    balances = await ledger.balances(member_id)
    assert (balances.available, balances.held) == (0, 0)


REFERRAL_PROGRAM = """
id: cafe-club
effective_from: EFFECTIVE
currency: USD
earning:
  base_rates: {USD: 10}
pending:
  days: 30
REFERRAL"""


async def test_a_return_voids_the_referral_by_the_version_that_priced_the_purchase(pool: asyncpg.Pool) -> None:
    """referrals.void_if_returned: `program` is "the version that priced it"; refunds.py passes the version
    in force at the purchase's occurred_at *now*, which may be one applied later with a past effective_from."""
    programs = ProgramApplication(pool)
    await programs.apply(
        REFERRAL_PROGRAM.replace("EFFECTIVE", "2020-01-01").replace(
            "REFERRAL", "bonuses:\n  referral: {referrer_points: 1500, referee_points: 500}\n"
        )
    )
    app = PointsApplication(pool, 2, programs)
    referrer = new_id("m")
    await app.enroll(Enrollment(referrer, "", "", ""))
    referee = new_id("m")
    await app.enroll(Enrollment(referee, "", "", "", referrer_member_id=referrer))
    bought = Purchase(new_id("p"), referee, Money(10000, "USD"), (), utc_now() - timedelta(hours=1), "")
    await app.record_purchase(bought)  # priced by version 1: pays the referral, pending 30 days
    # Version 2 drops the referral, effective (in the past) before the purchase; it prices only later purchases.
    await programs.apply(
        REFERRAL_PROGRAM.replace("EFFECTIVE", (utc_now() - timedelta(hours=2)).isoformat()).replace("REFERRAL", "")
    )
    refund = Refund(new_id("r"), bought.purchase_id, Money(10000, "USD"), utc_now())
    await RefundApplication(pool, programs).refund(refund)  # all of it returned within the pending window
    referral_points = await pool.fetchval(
        """SELECT coalesce(sum(points), 0) FROM ledger_entries
            WHERE member_id = $1 AND idempotency_key LIKE '%referral:%'""",
        referrer,
    )
    assert referral_points == 0  # is 1500: the referrer keeps the bonus of a purchase returned in full


async def test_a_late_purchase_answers_the_same_terms_first_and_on_a_repeat(pool: asyncpg.Pool) -> None:
    _, app, member_id = await member_under(pool, TERM)
    purchase = Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now() - 3 * DAY, "")
    first = await app.record_purchase(purchase)
    repeat = await app.record_purchase(purchase)
    assert repeat.duplicate
    assert (first.terms.available_at, first.terms.expires_at) == (repeat.terms.available_at, repeat.terms.expires_at)


async def test_a_late_purchase_written_after_a_hold_it_raced_is_not_reserved_by_it(
    pool: asyncpg.Pool, ledger: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase's transaction begins before the hold and writes its lot after the hold committed: the hold did
    not see those points, so they are not kept for it when they expire."""
    programs, app, member_id = await member_under(pool, TERM)
    await app.record_purchase(Purchase(new_id("p"), member_id, Money(10000, "USD"), (), utc_now(), ""))  # 200
    hold_taken = asyncio.Event()
    lock_buyers = purchases_store.lock_buyers

    async def after_the_hold(connection: asyncpg.Connection, purchases: Sequence[Purchase]) -> object:
        await hold_taken.wait()
        return await lock_buyers(connection, purchases)

    monkeypatch.setattr(purchases_store, "lock_buyers", after_the_hold)
    made = add_months(utc_now(), -24) + DAY  # 20 points that expire in a day
    late = asyncio.create_task(app.record_purchase(Purchase(new_id("p"), member_id, Money(1000, "USD"), (), made, "")))
    hold = await ledger.hold(member_id, 100, new_id("h"), 10 * DAY, "")  # sees the 200, not the late 20
    hold_taken.set()
    await late

    later = utc_now() + 2 * DAY
    await ExpiryJob(pool, programs).run_once(later)
    monkeypatch.setattr("services.points.domain.utc_now", lambda: later)
    await ledger.capture(str(hold.hold.hold_id))
    state = await books(pool, ledger, member_id)
    expired = await events_of(pool, member_id, events.PointsExpired)
    assert ([e.points for e in expired], state.entries_sum) == ([20], 100)  # type: ignore[attr-defined]
