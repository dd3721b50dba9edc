"""The tier bonus a purchase earns, against real PostgreSQL: by the tier the member held when it was made, matched to
the tiers of the program version that prices it (docs/program.md, How a purchase is priced)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from services.points.application import PointsApplication
from services.points.domain import Money, Purchase
from services.points.tier_application import RequalificationJob
from tests.integration.points_ledger_support import new_id
from tests.integration.test_tier_qualification import enrolled, program

# A member reaches gold at 1,000 points (100 USD) and earns 10% more on every purchase there.
GOLD_LADDER = """
id: club
effective_from: 2020-01-01
currency: USD
earning:
  base_rates: {USD: 10}
tiers:
  window: rolling
  window_months: 12
  levels:
    - {name: member, threshold: 0}
    - {name: gold, threshold: 1000, earn_bonus_percent: 10}
"""


def renamed(effective_from: str) -> str:
    """The next version of GOLD_LADDER, taking effect at `effective_from`: gold is called gold-elite, as rich."""
    return GOLD_LADDER.replace("effective_from: 2020-01-01", f"effective_from: {effective_from}").replace(
        "name: gold,", "name: gold-elite,"
    )


def bought(member_id: str, dollars: int, occurred_at: datetime) -> Purchase:
    return Purchase(new_id("p"), member_id, Money(dollars * 100, "USD"), (), occurred_at, "")


async def breakdown(app: PointsApplication, purchase: Purchase) -> list[tuple[str, int]]:
    result = await app.record_purchase(purchase)
    assert result.entry is not None
    return [(c["source"], c["points"]) for c in json.loads(result.entry.breakdown)]


async def test_a_purchase_priced_by_the_version_before_a_rename_earns_the_gold_bonus_of_that_version(
    pool: asyncpg.Pool,
) -> None:
    """The issue: a member gold under both versions, only renamed gold-elite by the later one, lost the bonus on a
    purchase made before the rename took effect and recorded after it, priced by the version that knew no
    gold-elite."""
    programs = await program(pool, GOLD_LADDER)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    reached_gold = datetime.now(UTC)
    await app.record_purchase(bought(member_id, 100, reached_gold))
    renamed_at = reached_gold + timedelta(hours=1)
    await programs.apply(renamed(renamed_at.isoformat()))
    # The job's pass once the rename took effect moves the member onto the new ladder, as gold-elite.
    await RequalificationJob(pool, programs).run_once(renamed_at + timedelta(minutes=10))
    assert (await app.member(member_id)).tier == "gold-elite"

    # Made while gold was in force (stamped ahead of the service's clock, which accepts up to 24 hours).
    while_gold = bought(member_id, 50, reached_gold + timedelta(minutes=30))
    assert await breakdown(app, while_gold) == [("base", 500), ("tier_bonus:gold", 50)]


async def test_a_version_renaming_the_tier_from_before_it_was_applied_pays_the_renamed_tier_by_its_rank(
    pool: asyncpg.Pool,
) -> None:
    """A version may take effect in the past: a member who reached gold under the old version since then holds a
    tier the version pricing their purchases no longer names. Gold is the second tier of its ladder, and so is
    gold-elite: the purchase earns gold-elite's bonus."""
    programs = await program(pool, GOLD_LADDER)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    await app.record_purchase(bought(member_id, 100, datetime.now(UTC)))
    await programs.apply(renamed("2021-01-01"))
    assert (await app.member(member_id)).tier == "gold"  # until the job's pass or the member's next move

    now = bought(member_id, 50, datetime.now(UTC))
    assert await breakdown(app, now) == [("base", 500), ("tier_bonus:gold-elite", 50)]


async def test_a_purchase_made_before_the_member_reached_gold_earns_no_gold_bonus(pool: asyncpg.Pool) -> None:
    """Sent late, after the purchase that lifted the member to gold: the member was not gold when it was made."""
    programs = await program(pool, GOLD_LADDER)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    before_gold = bought(member_id, 50, datetime.now(UTC))
    await app.record_purchase(bought(member_id, 100, datetime.now(UTC)))
    assert (await app.member(member_id)).tier == "gold"

    assert await breakdown(app, before_gold) == [("base", 500)]
    assert await breakdown(app, bought(member_id, 50, datetime.now(UTC))) == [("base", 500), ("tier_bonus:gold", 50)]
