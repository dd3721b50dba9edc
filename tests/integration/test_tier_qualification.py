"""Tier qualification: what counts in the window on either basis, read from the window's rows alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.points.api import progress_message
from services.points.application import PointsApplication
from services.points.domain import Enrollment, Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program import Program
from services.points.program_application import ProgramApplication
from services.points.purchases import PurchaseRecorder, PurchaseRequest, PurchaseResult
from services.points.refunds import RefundApplication
from services.points.tier_application import RequalificationJob, qualifying_value
from services.points.tier_risk import TierAtRiskJob
from tests.integration.points_ledger_support import new_id
from tests.integration.test_points_program_pricing import PROGRAM as POINTS_PROGRAM
from tests.integration.test_points_program_pricing import tier_events

# POINTS_PROGRAM, the pricing tests' program: 10 points per USD, silver at 1,000 points earned in a rolling 12 months.
SPEND_PROGRAM = """
id: sky
name: Sky
effective_from: 2020-01-01
currency: EUR
earning:
  base_rates: {EUR: 1, USD: 1}
tiers:
  basis: spend
  window: rolling
  window_months: 12
  levels:
    - {name: explorer, threshold: 0}
    - {name: silver, threshold: 100}
    - {name: gold, threshold: 500}
"""


# Rows this old lie outside both programs' windows.
LONG_AGO = "now() - interval '2 years'"
HISTORY = 300


async def program(pool: asyncpg.Pool, definition: str) -> ProgramApplication:
    programs = ProgramApplication(pool)
    await programs.apply(definition)
    return programs


async def in_force_now(pool: asyncpg.Pool, programs: ProgramApplication) -> Program:
    async with pool.acquire() as connection:
        version = await programs.in_force_in(connection, None, datetime.now(UTC))
    assert version is not None
    return version.program


async def enrolled(app: PointsApplication) -> str:
    return (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id


def spend(member_id: str, amount_minor: int, currency: str = "EUR") -> Purchase:
    return Purchase(new_id("p"), member_id, Money(amount_minor, currency), (), datetime.now(UTC), "")


async def test_spend_in_the_program_currency_less_refunds_qualifies(pool: asyncpg.Pool) -> None:
    programs = await program(pool, SPEND_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    first = spend(member_id, 6000)
    await app.record_purchase(first)
    await app.record_purchase(spend(member_id, 50000, "USD"))  # another currency: earns, but is no spend
    assert (await app.member(member_id)).tier == "explorer"

    await app.record_purchase(spend(member_id, 5000))
    assert (await app.member(member_id)).tier == "silver"
    reached = await tier_events(pool, member_id)
    assert [(e.previous_tier, e.tier, e.qualifying_value) for e in reached] == [  # type: ignore[attr-defined]
        ("explorer", "silver", "110.00")
    ]

    refund = Refund(new_id("r"), first.purchase_id, Money(3000, "EUR"), datetime.now(UTC))
    await RefundApplication(pool, programs).refund(refund)
    sky = await in_force_now(pool, programs)
    async with pool.acquire() as connection:
        assert await qualifying_value(connection, member_id, sky, datetime.now(UTC)) == Decimal("80.00")


def bought(member_id: str, amount_minor: int, currency: str, days_ago: int) -> Purchase:
    return Purchase(
        new_id("p"), member_id, Money(amount_minor, currency), (), datetime.now(UTC) - timedelta(days=days_ago), ""
    )


async def value_now(pool: asyncpg.Pool, programs: ProgramApplication, member_id: str) -> Decimal:
    async with pool.acquire() as connection:
        return await qualifying_value(connection, member_id, await in_force_now(pool, programs), datetime.now(UTC))


@pytest.mark.parametrize(
    ("definition", "currency", "recent_value"),
    [(POINTS_PROGRAM, "USD", Decimal(500)), (SPEND_PROGRAM, "EUR", Decimal(50))],
)
async def test_a_purchase_counts_in_the_window_it_was_made_in_and_so_does_its_refund(
    pool: asyncpg.Pool, definition: str, currency: str, recent_value: Decimal
) -> None:
    programs = await program(pool, definition)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    # Made 13 months ago, before both programs' rolling 12-month window, and sent only now.
    late = bought(member_id, 20000, currency, days_ago=400)
    await app.record_purchase(late)
    await app.record_purchase(bought(member_id, 5000, currency, days_ago=1))
    assert await value_now(pool, programs, member_id) == recent_value
    await RefundApplication(pool, programs).refund(
        Refund(new_id("r"), late.purchase_id, Money(20000, currency), datetime.now(UTC))
    )
    # Its refund is in the same window as the purchase: nothing comes off this one.
    assert await value_now(pool, programs, member_id) == recent_value


async def test_a_refund_takes_every_point_it_reverses_off_the_window_even_those_left_owed(pool: asyncpg.Pool) -> None:
    programs = await program(pool, POINTS_PROGRAM)  # refunds of spent points become debt (the default)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    await app.record_purchase(bought(member_id, 5000, "USD", days_ago=20))  # 500 points, out of their pending window
    refunded = bought(member_id, 10000, "USD", days_ago=20)  # 1,000 points: silver
    await app.record_purchase(refunded)
    assert (await app.member(member_id)).tier == "silver"
    await LedgerApplication(pool).adjust(member_id, -1500, "spent elsewhere", "test", new_id("spend"))
    result = await RefundApplication(pool, programs).refund(
        Refund(new_id("r"), refunded.purchase_id, Money(10000, "USD"), datetime.now(UTC))
    )
    assert (result.refund.points_reversed, result.refund.points_owed, result.entry) == (1000, 1000, None)
    assert await value_now(pool, programs, member_id) == 500


async def test_round_spend_reads_as_a_plain_decimal_in_the_event_and_the_progress(pool: asyncpg.Pool) -> None:
    programs = await program(pool, SPEND_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    await app.record_purchase(spend(member_id, 300000))  # PostgreSQL's sum gives Decimal('3.0E+5') for it
    reached = await tier_events(pool, member_id)
    assert [e.qualifying_value for e in reached] == ["3000.00"]  # type: ignore[attr-defined]
    found = await app.tier_progress(member_id)
    assert found is not None
    message = progress_message(*found)
    assert (message.qualifying_value, message.needed_for_next) == ("3000.00", "0")


async def test_a_batch_moves_each_buyer_that_crossed_a_threshold_once(pool: asyncpg.Pool) -> None:
    programs = await program(pool, SPEND_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    to_silver, to_gold, staying = [await enrolled(app) for _ in range(3)]
    batch = [spend(to_silver, 20000), spend(to_gold, 60000), spend(staying, 9999)]
    async with unit_of_work(pool) as connection:
        outcomes = await PurchaseRecorder(programs, 1, RefundApplication(pool, programs)).record_in(
            connection, [PurchaseRequest(p) for p in batch]
        )
    assert all(isinstance(outcome, PurchaseResult) for outcome in outcomes)
    moves = {}
    for member_id in (to_silver, to_gold, staying):
        moves[member_id] = [(e.previous_tier, e.tier) for e in await tier_events(pool, member_id)]  # type: ignore[attr-defined]
        assert (await app.member(member_id)).tier == (moves[member_id] or [("", "explorer")])[-1][1]
    assert moves == {to_silver: [("explorer", "silver")], to_gold: [("explorer", "gold")], staying: []}


async def test_a_buyer_with_two_purchases_in_a_batch_moves_once(pool: asyncpg.Pool) -> None:
    programs = await program(pool, SPEND_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    async with unit_of_work(pool) as connection:
        batch = [PurchaseRequest(spend(member_id, 35000)) for _ in range(2)]
        await PurchaseRecorder(programs, 1, RefundApplication(pool, programs)).record_in(connection, batch)
    moves = [(e.previous_tier, e.tier) for e in await tier_events(pool, member_id)]  # type: ignore[attr-defined]
    assert moves == [("explorer", "gold")]


async def index_tuples_read(connection: asyncpg.Connection, tables: list[str]) -> int:
    """Index entries read from the tables by this backend, counted until it next reports its statistics.

    Sequential scans of the tables would read rows no index count shows, so there must be none.
    """
    scans = await connection.fetchval(
        "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname = ANY($1::text[])", tables
    )
    assert scans == 0
    # pg_stat_xact_user_indexes does not exist; its idx_tup_read is this function of each index.
    read = await connection.fetchval(
        """SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), 0)
             FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY($1::text[])""",
        tables,
    )
    return int(read)


@pytest.mark.parametrize(
    ("definition", "tables", "value"),
    [(POINTS_PROGRAM, ["ledger_entries"], Decimal(300)), (SPEND_PROGRAM, ["purchases", "refunds"], Decimal("30.00"))],
)
async def test_qualification_reads_the_windows_rows_not_the_members_history(
    pool: asyncpg.Pool, definition: str, tables: list[str], value: Decimal
) -> None:
    programs = await program(pool, definition)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    in_force = await in_force_now(pool, programs)
    # Two years of history, outside the window: earned points, purchases, and refunds of them.
    await pool.execute(
        f"""INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, created_at,
                                        qualifies_at)
            SELECT gen_random_uuid(), $1, 'purchase_earn', 100, 'old-' || i, 'old', {LONG_AGO}, {LONG_AGO}
              FROM generate_series(1, {HISTORY}) AS i""",
        member_id,
    )
    await pool.execute(
        # Earning nothing, each keeps its breakdown itself (no entry keeps it): purchases_breakdown_kept_once.
        f"""INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, occurred_at, points_earned,
                                   breakdown)
            SELECT 'old-' || i, $1, 10000, $2, {LONG_AGO}, 0, '[]' FROM generate_series(1, {HISTORY}) AS i""",
        member_id,
        in_force.currency,
    )
    await pool.execute(
        f"""INSERT INTO refunds (refund_id, purchase_id, member_id, amount_minor, points_reversed, points_owed,
                                 occurred_at, purchase_occurred_at)
            SELECT 'old-' || i, 'old-' || i, $1, 100, 0, 0, {LONG_AGO}, {LONG_AGO}
              FROM generate_series(1, {HISTORY}) AS i""",
        member_id,
    )
    recent = [spend(member_id, 1000, in_force.currency) for _ in range(3)]
    for purchase in recent:
        await app.record_purchase(purchase)
    await pool.execute("ANALYZE ledger_entries, purchases, refunds")

    async with unit_of_work(pool) as connection:
        before = await index_tuples_read(connection, tables)
        assert await qualifying_value(connection, member_id, in_force, datetime.now(UTC)) == value
        read = await index_tuples_read(connection, tables) - before
    # The window's rows, and the few index entries the planner probes for the ends of a range; not the history.
    assert len(recent) <= read < HISTORY // 10


async def test_a_requalification_pass_takes_every_due_member_and_skips_those_held_elsewhere(
    pool: asyncpg.Pool,
) -> None:
    programs = await program(pool, POINTS_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    members = [await enrolled(app) for _ in range(7)]
    for member_id in members:
        await app.record_purchase(spend(member_id, 15000, "USD"))  # 1,500 points: silver, due in 12 months
    kept, held, lost = members[:3], members[3], members[4:]
    # Points earned late in the next window keep the first three silver.
    await pool.execute(
        """INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, qualifies_at)
           SELECT gen_random_uuid(), m, 'purchase_earn', 2000, 'late-' || m, 'late', now() + interval '300 days'
             FROM unnest($1::text[]) AS m""",
        kept,
    )
    job = RequalificationJob(pool, programs, batch=2)
    later = datetime.now(UTC) + timedelta(days=400)
    async with unit_of_work(pool) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", held)
        assert await job.run_once(later) == 6  # three batches in one pass; the held member is left for the next
    assert await job.run_once(later) == 1
    assert await job.run_once(later) == 0

    rows = await pool.fetch("SELECT member_id, tier, requalify_at FROM members WHERE member_id = ANY($1)", members)
    state = {r["member_id"]: (r["tier"], r["requalify_at"]) for r in rows}
    assert all(state[m][0] == "silver" and state[m][1] > later for m in kept)
    assert all(state[m] == ("member", None) for m in [*lost, held])
    for member_id in lost:
        assert [type(e) for e in await tier_events(pool, member_id)] == [events.TierReached, events.TierLost]


# The calendar year of New York: requalification is at its midnight on 1 January.
CALENDAR_PROGRAM = """
id: year-club
name: Year Club
effective_from: 2020-01-01
currency: USD
timezone: America/New_York
earning:
  base_rates: {USD: 10}
tiers:
  basis: points
  window: calendar_year
  levels:
    - {name: member, threshold: 0}
    - {name: silver, threshold: 1000}
"""


async def silver_then_refunded(pool: asyncpg.Pool, programs: ProgramApplication, *refunded_minor: int) -> list[str]:
    """Members who each reached silver with a purchase of 150 USD (1,500 points), then were refunded the amount
    given for them (0: nothing)."""
    app = PointsApplication(pool, 1, programs)
    refunds = RefundApplication(pool, programs)
    members = []
    for refunded in refunded_minor:
        member_id = await enrolled(app)
        purchase = spend(member_id, 15000, "USD")
        await app.record_purchase(purchase)
        if refunded:
            await refunds.refund(
                Refund(new_id("r"), purchase.purchase_id, Money(refunded, "USD"), purchase.occurred_at)
            )
        members.append(member_id)
    return members


async def test_a_calendar_year_requalification_judges_the_year_that_just_closed(pool: asyncpg.Pool) -> None:
    programs = await program(pool, CALENDAR_PROGRAM)
    # Each reaches silver with 1,500 points; refunds then leave the year's value at 1,500, 500, 900 and 500.
    kept, fell, straddled, earned_anew = await silver_then_refunded(pool, programs, 0, 10000, 6000, 10000)
    requalify_at = await pool.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", kept)
    local = requalify_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.month, local.day, local.hour, local.minute) == (1, 1, 0, 0)

    warned = await TierAtRiskJob(pool, programs, warn_before=timedelta(days=30)).run_once(
        requalify_at - timedelta(days=20)
    )
    assert warned == 3
    for member_id, value in ((fell, "500"), (straddled, "900"), (earned_anew, "500")):
        risks = await tier_events(pool, member_id, (events.TierAtRisk,))
        assert [(r.qualifying_value, r.projected_tier) for r in risks] == [(value, "member")]

    # Minutes into the new year, before the job passes: 200 points for one, 2,000 for another.
    await pool.execute(
        """INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, qualifies_at)
           SELECT gen_random_uuid(), m, 'purchase_earn', p, 'new-year-' || m, 'new year', $3
             FROM unnest($1::text[], $2::int[]) AS n (m, p)""",
        [straddled, earned_anew],
        [200, 2000],
        requalify_at + timedelta(minutes=1),
    )
    assert await RequalificationJob(pool, programs).run_once(requalify_at + timedelta(minutes=5)) == 4
    rows = await pool.fetch(
        "SELECT member_id, tier, requalify_at FROM members WHERE member_id = ANY($1)",
        [kept, fell, straddled, earned_anew],
    )
    state = {r["member_id"]: (r["tier"], r["requalify_at"]) for r in rows}
    next_year = requalify_at.astimezone(ZoneInfo("America/New_York")).replace(year=local.year + 1)
    # The closed year kept one; the new year's 2,000 points keep another; 900 and 200 are not added up.
    assert state == {
        kept: ("silver", next_year),
        fell: ("member", None),
        straddled: ("member", None),
        earned_anew: ("silver", next_year),
    }


async def test_a_member_is_judged_again_for_tier_at_risk_under_each_version_and_warned_only_of_something_new(
    pool: asyncpg.Pool,
) -> None:
    programs = await program(pool, CALENDAR_PROGRAM)  # silver at 1,000 points in the year
    safe, short = await silver_then_refunded(pool, programs, 0, 10000)  # 1,500 points each; a refund leaves 500
    requalify_at = await pool.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", safe)
    local_year_end = requalify_at.astimezone(ZoneInfo("America/New_York"))

    def version(effective: timedelta, silver: int, rate: int) -> str:
        day = (local_year_end - effective).date().isoformat()
        return (
            CALENDAR_PROGRAM.replace("effective_from: 2020-01-01", f"effective_from: {day}")
            .replace("threshold: 1000", f"threshold: {silver}")
            .replace("USD: 10}", f"USD: {rate}}}")
        )

    # Applied ahead: silver at 2,000 from 22 days before the year's end, then only a new earning rate from 18.
    await programs.apply(version(timedelta(days=22), silver=2000, rate=10))
    await programs.apply(version(timedelta(days=18), silver=2000, rate=12))
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))

    async def needed(member_id: str) -> list[str]:
        return [r.needed_to_keep for r in await tier_events(pool, member_id, (events.TierAtRisk,))]

    assert await job.run_once(requalify_at - timedelta(days=24)) == 1
    assert (await needed(safe), await needed(short)) == ([], ["500"])
    # The higher threshold puts the safe member at risk and raises what the other needs: both told.
    assert await job.run_once(requalify_at - timedelta(days=20)) == 2
    assert (await needed(safe), await needed(short)) == (["500"], ["500", "1500"])
    # Another version with the same ladder, and another pass: nothing new to tell.
    assert await job.run_once(requalify_at - timedelta(days=17)) == 0
    assert await job.run_once(requalify_at - timedelta(days=16)) == 0


async def test_the_progress_shows_what_keeping_the_tier_at_requalification_still_needs(pool: asyncpg.Pool) -> None:
    programs = await program(pool, SPEND_PROGRAM)  # rolling 12 months, silver at 100
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)

    async def progress() -> tuple[str, str, str]:
        found = await app.tier_progress(member_id)
        assert found is not None
        message = progress_message(*found)
        return message.qualifying_value, message.requalification_value, message.needed_to_keep

    assert await progress() == ("0.00", "", "")  # the lowest tier is never requalified
    await app.record_purchase(spend(member_id, 15000))
    # The spend that reached silver counts in the current window, not in the one that will judge it.
    assert await progress() == ("150.00", "0.00", "100.00")
    await app.record_purchase(spend(member_id, 6000))
    assert await progress() == ("210.00", "60.00", "40.00")


async def test_members_off_the_ladder_are_put_on_it_by_activity_or_by_the_requalification_job(
    pool: asyncpg.Pool,
) -> None:
    # Enrolled and buying before any program: the flat rate, and the tier every member has then.
    before = PointsApplication(pool, 10)
    idle, earner, buyer = [await enrolled(before) for _ in range(3)]
    await before.record_purchase(spend(earner, 15000, "USD"))  # 1,500 points, enough for silver later
    assert {(await before.member(m)).tier for m in (idle, earner, buyer)} == {"base"}

    programs = await program(pool, POINTS_PROGRAM)
    app = PointsApplication(pool, 10, programs)
    await app.record_purchase(spend(buyer, 100, "USD"))  # any activity puts the buyer on the ladder
    assert (await app.member(buyer)).tier == "member"

    job = RequalificationJob(pool, programs)
    await job.run_once()
    assert [(await app.member(m)).tier for m in (idle, earner)] == ["member", "silver"]
    reached = await tier_events(pool, earner)
    assert [(e.previous_tier, e.tier) for e in reached] == [("base", "silver")]  # type: ignore[attr-defined]
    assert [type(e) for e in await tier_events(pool, idle)] == [events.TierReached]
    # Everyone is on the ladder now: a second pass moves nobody and announces nothing.
    await job.run_once()
    assert len(await tier_events(pool, idle)) == 1
    # An enrolment that read the version before the program, committing after those passes, is put on the
    # ladder by the next one: the ladder is taken as checked only a while after the program took effect.
    late = await enrolled(app)
    await pool.execute("UPDATE members SET tier = 'base' WHERE member_id = $1", late)  # the ladder it read
    assert await job.run_once() == 1
    assert (await app.member(late)).tier == "member"


async def test_a_refund_that_changes_nothing_the_warning_says_does_not_warn_the_member_twice(
    pool: asyncpg.Pool,
) -> None:
    programs = await program(pool, CALENDAR_PROGRAM)  # silver at 1,000 points in the calendar year, 10 per USD
    app = PointsApplication(pool, 1, programs)
    refunds = RefundApplication(pool, programs)
    member_id = await enrolled(app)
    purchase = spend(member_id, 15000, "USD")  # 1,500 points: silver
    await app.record_purchase(purchase)
    await refunds.refund(Refund(new_id("r"), purchase.purchase_id, Money(10000, "USD"), purchase.occurred_at))
    requalify_at = await pool.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", member_id)
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))

    assert await job.run_once(requalify_at - timedelta(days=20)) == 1  # 500 points: "500 needed"
    # A cent more refunded: no point reversed, the year's value is still 500, the warning would say the same.
    result = await refunds.refund(Refund(new_id("r"), purchase.purchase_id, Money(1, "USD"), purchase.occurred_at))
    assert result.refund.points_reversed == 0
    await job.run_once(requalify_at - timedelta(days=19))

    risks = await tier_events(pool, member_id, (events.TierAtRisk,))
    assert [(r.qualifying_value, r.needed_to_keep) for r in risks] == [("500", "500")]
