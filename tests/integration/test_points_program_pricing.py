"""Purchases priced by the program in force: breakdown kept, pending window and expiry on the lot, tiers moving."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists
from services.points.application import PointsApplication
from services.points.domain import Enrollment, LineItem, Money, Purchase, Refund
from services.points.ledger_application import LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from services.points.tier_application import RequalificationJob
from services.points.tier_risk import TierAtRiskJob
from tests.integration.points_ledger_support import events_of, new_id
from tests.integration.support import PoolFactory

PROGRAM = """
id: cafe-club
name: Cafe Club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
  rules:
    - id: coffee-triple
      description: Three times the points on coffee
      match: {categories: [coffee]}
      multiplier: 3
tiers:
  basis: points
  window: rolling
  window_months: 12
  levels:
    - {name: member, threshold: 0}
    - {name: silver, threshold: 1000, earn_bonus_percent: 10}
expiry:
  months_after_earning: 12
pending:
  days: 14
"""


@pytest.fixture
async def pool(migrated_pool: PoolFactory) -> asyncpg.Pool:
    _, pool = await migrated_pool("points")
    return pool


@pytest.fixture
async def programs(pool: asyncpg.Pool) -> ProgramApplication:
    programs = ProgramApplication(pool)
    await programs.apply(PROGRAM)
    return programs


def coffee_purchase(member_id: str, dollars: int) -> Purchase:
    price = Money(dollars * 100, "USD")
    line = LineItem("LATTE", "coffee", 1, price)
    return Purchase(new_id("p"), member_id, price, (line,), datetime.now(UTC), "store")


async def tier_events(
    pool: asyncpg.Pool, member_id: str, kinds: tuple[type, ...] = (events.TierReached, events.TierLost)
) -> list[object]:
    return await events_of(pool, member_id, kinds)


async def test_a_purchase_earns_by_the_program_and_the_ledger_keeps_the_breakdown(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member = await app.enroll(Enrollment(new_id("m"), "", "", ""))
    assert member.tier == "member"
    result = await app.record_purchase(coffee_purchase(member.member_id, 50))
    assert result.points_earned == 1500  # 500 base + 1000 for coffee
    assert result.entry is not None
    assert [(c["source"], c["points"]) for c in json.loads(result.entry.breakdown)] == [
        ("base", 500),
        ("rule:coffee-triple", 1000),
    ]
    assert result.terms.program_id == "cafe-club" and result.terms.expires_at is not None
    balances = await LedgerApplication(pool).balances(member.member_id)
    assert (balances.available, balances.pending) == (0, 1500)  # pending for 14 days


async def test_a_repeated_purchase_answers_the_first_result_and_a_different_one_under_its_id_is_refused(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member = await app.enroll(Enrollment(new_id("m"), "", "", ""))
    purchase = coffee_purchase(member.member_id, 50)
    first = await app.record_purchase(purchase)
    again = await app.record_purchase(purchase)
    assert (again.duplicate, again.points_earned, again.entry, again.terms) == (
        True,
        first.points_earned,
        first.entry,
        first.terms,
    )
    changed = Purchase(purchase.purchase_id, member.member_id, Money(5100, "USD"), (), purchase.occurred_at, "")
    with pytest.raises(AlreadyExists, match="purchase_id: already recorded with a different amount"):
        await app.record_purchase(changed)


async def test_crossing_a_threshold_upgrades_at_once_and_the_bonus_applies_next(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await app.record_purchase(coffee_purchase(member_id, 50))
    assert (await app.member(member_id)).tier == "silver"
    reached = await tier_events(pool, member_id)
    assert [(e.previous_tier, e.tier) for e in reached] == [("member", "silver")]  # type: ignore[attr-defined]

    plain = Purchase(new_id("p"), member_id, Money(1000, "USD"), (), datetime.now(UTC), "")
    second = await app.record_purchase(plain)
    assert second.entry is not None
    assert [(c["source"], c["points"]) for c in json.loads(second.entry.breakdown)] == [
        ("base", 100),
        ("tier_bonus:silver", 10),
    ]
    progress = await app.tier_progress(member_id)
    assert progress is not None
    assert (progress[0].next_tier, progress[1] is not None) == (None, True)


async def test_requalification_drops_a_member_whose_window_value_fell(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await app.record_purchase(coffee_purchase(member_id, 50))
    job = RequalificationJob(pool, programs)
    assert await job.run_once(datetime.now(UTC)) == 0  # not due yet
    # Thirteen months on, the points that qualified are outside the rolling window.
    assert await job.run_once(datetime.now(UTC) + timedelta(days=400)) >= 1
    assert (await app.member(member_id)).tier == "member"
    changes = await tier_events(pool, member_id)
    assert isinstance(changes[-1], events.TierLost)


async def test_a_member_who_would_lose_the_tier_is_warned_once_before_requalification(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await app.record_purchase(coffee_purchase(member_id, 50))  # silver, requalified in 12 months
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))
    assert await job.run_once(datetime.now(UTC)) == 0  # requalification is a year away
    # Twenty days before requalification: nothing earned in the window it looks at.
    warned_at = datetime.now(UTC) + timedelta(days=365 - 20)
    assert await job.run_once(warned_at) == 1
    assert await job.run_once(warned_at + timedelta(days=1)) == 0  # once per requalification date
    risks = await tier_events(pool, member_id, (events.TierAtRisk,))
    assert [(r.tier, r.projected_tier, r.qualifying_value, r.needed_to_keep) for r in risks] == [
        ("silver", "member", "0", "1000")
    ]
    assert (await app.member(member_id)).tier == "silver"  # a warning, not a move


async def test_one_pass_warns_every_member_due_a_batch_at_a_time_skipping_a_member_busy_elsewhere(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    members = [(await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id for _ in range(5)]
    for member_id in members:
        await app.record_purchase(coffee_purchase(member_id, 50))  # silver, each with its own requalification date
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30), batch=2)
    warned_at = datetime.now(UTC) + timedelta(days=365 - 20)
    async with unit_of_work(pool) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", members[2])
        assert await job.run_once(warned_at) == 4  # two batches and a last one in one pass; one member held
    assert await job.run_once(warned_at) == 1
    assert await job.run_once(warned_at) == 0
    for member_id in members:
        assert len(await tier_events(pool, member_id, (events.TierAtRisk,))) == 1


async def test_a_member_on_track_to_keep_the_tier_is_not_warned(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await app.record_purchase(coffee_purchase(member_id, 50))
    # Earned again after reaching silver: it counts in the window requalification looks at.
    await app.record_purchase(coffee_purchase(member_id, 50))
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))
    assert await job.run_once(datetime.now(UTC) + timedelta(days=365 - 20)) == 0


async def test_a_member_safe_at_the_first_check_is_warned_after_a_refund_puts_the_tier_at_risk(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    await app.record_purchase(coffee_purchase(member_id, 50))  # silver
    kept_it = coffee_purchase(member_id, 50)
    await app.record_purchase(kept_it)  # earned again in the window requalification looks at
    job = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))
    warned_at = datetime.now(UTC) + timedelta(days=365 - 20)
    assert await job.run_once(warned_at) == 0
    await RefundApplication(pool, programs).refund(
        Refund(new_id("r"), kept_it.purchase_id, kept_it.amount, datetime.now(UTC))
    )
    assert await job.run_once(warned_at + timedelta(minutes=5)) == 1
    assert await job.run_once(warned_at + timedelta(minutes=10)) == 0


async def test_a_purchase_that_earns_nothing_still_answers_its_base_component(
    pool: asyncpg.Pool, programs: ProgramApplication
) -> None:
    app = PointsApplication(pool, 2, programs)
    member = await app.enroll(Enrollment(new_id("m"), "", "", ""))
    small = Purchase(new_id("p"), member.member_id, Money(99, "USD"), (), datetime.now(UTC), "")
    result = await app.record_purchase(small)
    assert (result.points_earned, result.entry) == (0, None)
    assert [(c.source, c.points) for c in result.breakdown] == [("base", 0)]
    # No lot: nothing becomes available or expires, first time or repeated.
    for answer in (result, await app.record_purchase(small)):
        assert (answer.terms.available_at, answer.terms.expires_at) == (None, None)


CAPPED = """
id: capped
name: Capped
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
  caps: {per_day: 1000}
"""


async def test_the_daily_cap_counts_what_refunds_took_back(pool: asyncpg.Pool) -> None:
    programs = ProgramApplication(pool)
    await programs.apply(CAPPED)
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    returned = coffee_purchase(member_id, 80)
    await app.record_purchase(returned)  # 800 points
    await RefundApplication(pool, programs).refund(
        Refund(new_id("r"), returned.purchase_id, returned.amount, returned.occurred_at)
    )
    bought_again = await app.record_purchase(coffee_purchase(member_id, 80))
    assert bought_again.points_earned == 800
    capped = await app.record_purchase(coffee_purchase(member_id, 80))
    assert capped.points_earned == 200


IRAQI = """
id: baghdad-market
name: Baghdad Market
effective_from: 2020-01-01
currency: IQD
earning:
  base_rates: {IQD: 0.01, HUF: 0.1}
tiers:
  basis: spend
  window: rolling
  window_months: 12
  levels:
    - {name: member, threshold: 0}
    - {name: silver, threshold: 20000}
"""


async def test_amounts_count_in_iso_4217_minor_units_where_cldr_shows_fewer_digits(pool: asyncpg.Pool) -> None:
    # ISO 4217 gives IQD 3 decimals and HUF 2, where CLDR shows both with none: 25,000.000 IQD is 25,000 units.
    programs = ProgramApplication(pool)
    await programs.apply(IRAQI)
    app = PointsApplication(pool, 2, programs)
    member_id = (await app.enroll(Enrollment(new_id("m"), "", "", ""))).member_id
    dinars = Purchase(new_id("p"), member_id, Money(25_000_000, "IQD"), (), datetime.now(UTC), "")
    assert (await app.record_purchase(dinars)).points_earned == 250
    # The spend counts in dinars too: 25,000.000 reaches silver at 20,000.
    assert (await app.member(member_id)).tier == "silver"
    reached = await tier_events(pool, member_id)
    assert [(e.tier, e.qualifying_value) for e in reached] == [("silver", "25000.000")]  # type: ignore[attr-defined]
    forints = Purchase(new_id("p"), member_id, Money(1_000_000, "HUF"), (), datetime.now(UTC), "")
    assert (await app.record_purchase(forints)).points_earned == 1000  # 10,000.00 HUF


async def test_a_version_stored_under_earlier_rules_still_prices_purchases_as_it_did(pool: asyncpg.Pool) -> None:
    """A definition applied before empty mappings were refused (here `match: {}`: every purchase) stays readable:
    the service reads stored versions by the rules they were applied under, never failing every purchase."""
    legacy = (
        "id: old-club\neffective_from: 2020-01-01\ncurrency: USD\n"
        "earning:\n  base_rates: {USD: 1}\n  caps: {}\n"
        "  rules:\n    - {id: all, description: every purchase, match: {}, multiplier: 3}\n"
    )
    await pool.execute(
        "INSERT INTO programs (program_id, version, effective_from, definition) VALUES ('old-club', 1, $1, $2)",
        datetime(2020, 1, 1, tzinfo=UTC),
        legacy,
    )
    app = PointsApplication(pool, 1, ProgramApplication(pool))
    member = await app.enroll(Enrollment(new_id("m"), "", "", ""))
    result = await app.record_purchase(coffee_purchase(member.member_id, 10))
    assert result.points_earned == 30  # 10 base + 20 by the rule matching any purchase
