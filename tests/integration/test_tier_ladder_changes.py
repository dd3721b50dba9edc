"""Tiers when the clock or the ladder moves, against real PostgreSQL: a purchase stamped ahead of the service's
clock, and a new program version adding a tier below the first, whose members the requalification job dates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.points.application import PointsApplication
from services.points.domain import Money, Purchase
from services.points.tier_application import RequalificationJob
from tests.integration.points_ledger_support import new_id
from tests.integration.test_points_program_pricing import PROGRAM as POINTS_PROGRAM
from tests.integration.test_points_program_pricing import tier_events
from tests.integration.test_tier_qualification import enrolled, program


async def test_the_points_of_a_purchase_stamped_a_little_ahead_do_not_keep_the_tier_they_earned(
    pool: asyncpg.Pool,
) -> None:
    """docs/program.md, Requalification: under `rolling` a tier is judged "on the window_months before that moment,
    so the points that earned a tier do not also keep it". A purchase's occurred_at may be up to 24 hours ahead of
    the service's clock (a till's clock running fast); the points it earned the tier with still must not keep it."""
    programs = await program(pool, POINTS_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    ahead = Purchase(new_id("p"), member_id, Money(15000, "USD"), (), datetime.now(UTC) + timedelta(hours=2), "")
    await app.record_purchase(ahead)  # 1,500 points: silver
    assert (await app.member(member_id)).tier == "silver"
    requalify_at = await pool.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", member_id)

    await RequalificationJob(pool, programs).run_once(requalify_at + timedelta(minutes=5))
    # Nothing earned since the member reached silver: the tier goes, as it does for a purchase stamped a moment ago.
    assert (await app.member(member_id)).tier == "member"


async def test_members_above_a_first_tier_a_new_version_adds_below_them_are_still_requalified(
    pool: asyncpg.Pool,
) -> None:
    """docs/program.md, Requalification: "A tier above the first is checked when its window ends". Members who
    held the first tier of the old ladder hold a tier above the first once a version adds a lower one, with no
    requalification date: they must be judged like any other silver member, not keep silver for ever."""
    ladder = POINTS_PROGRAM.replace(
        "    - {name: member, threshold: 0}\n    - {name: silver, threshold: 1000, earn_bonus_percent: 10}\n",
        "    - {name: silver, threshold: 0}\n    - {name: gold, threshold: 1000}\n",
    )
    programs = await program(pool, ladder)
    app = PointsApplication(pool, 1, programs)
    member_id = await enrolled(app)
    assert (await app.member(member_id)).tier == "silver"  # the first tier: nothing to requalify
    await programs.apply(
        ladder.replace("effective_from: 2020-01-01", "effective_from: 2021-01-01").replace(
            "    - {name: silver, threshold: 0}\n",
            "    - {name: blue, threshold: 0}\n    - {name: silver, threshold: 500}\n",
        )
    )
    job = RequalificationJob(pool, programs)
    await job.run_once()
    await job.run_once(datetime.now(UTC) + timedelta(days=800))  # over two rolling windows without a point earned
    assert (await app.member(member_id)).tier == "blue"
    assert [type(e) for e in await tier_events(pool, member_id)] == [events.TierLost]


# POINTS_PROGRAM with silver as its first tier, and the version after it that adds blue below silver.
SILVER_FIRST = POINTS_PROGRAM.replace(
    "    - {name: member, threshold: 0}\n    - {name: silver, threshold: 1000, earn_bonus_percent: 10}\n",
    "    - {name: silver, threshold: 0}\n    - {name: gold, threshold: 1000}\n",
)
BLUE_BELOW = SILVER_FIRST.replace("effective_from: 2020-01-01", "effective_from: 2021-01-01").replace(
    "    - {name: silver, threshold: 0}\n", "    - {name: blue, threshold: 0}\n    - {name: silver, threshold: 500}\n"
)


async def requalify_dates(pool: asyncpg.Pool, member_ids: list[str]) -> dict[str, datetime | None]:
    rows = await pool.fetch("SELECT member_id, requalify_at FROM members WHERE member_id = ANY($1)", member_ids)
    return {row["member_id"]: row["requalify_at"] for row in rows}


async def test_the_dating_pass_skips_a_member_held_elsewhere_and_dates_it_on_a_later_pass(pool: asyncpg.Pool) -> None:
    """A purchase batch locks its buyers in member id order (lock_buyers): the dating pass must never wait for a
    member another transaction holds, which could deadlock with such a batch; it leaves the member for a later
    pass, even once the ladder has settled."""
    programs = await program(pool, SILVER_FIRST)
    app = PointsApplication(pool, 1, programs)
    members = sorted([await enrolled(app) for _ in range(5)])
    await programs.apply(BLUE_BELOW)
    held = members[2]
    job = RequalificationJob(pool, programs, batch=2)
    settled = datetime.now(UTC) + timedelta(minutes=10)
    async with unit_of_work(pool) as elsewhere:
        await elsewhere.execute("SELECT 1 FROM members WHERE member_id = $1 FOR UPDATE", held)
        # Waiting for the held member would not return until the lock goes.
        await asyncio.wait_for(job.run_once(), timeout=10)
        dates = await requalify_dates(pool, members)
        assert dates[held] is None
        assert all(dates[m] is not None for m in members if m != held)  # three pages, the held member skipped
        # The pass that would take the ladder as checked skips it too: the ladder is not checked yet.
        await asyncio.wait_for(job.run_once(settled), timeout=10)
        assert (await requalify_dates(pool, [held]))[held] is None
    await job.run_once(settled)
    assert (await requalify_dates(pool, [held]))[held] is not None
    assert (await app.member(held)).tier == "silver"


async def test_the_ladder_is_dated_when_the_version_takes_effect_and_again_once_it_settled(pool: asyncpg.Pool) -> None:
    """Dating reads through the members: not on every pass while the version settles, only when it takes effect
    and once more when nothing that read the version before can still commit (an enrolment on the old first
    tier, say), which that last sweep dates."""
    programs = await program(pool, SILVER_FIRST)
    app = PointsApplication(pool, 1, programs)
    early = await enrolled(app)
    await programs.apply(BLUE_BELOW)
    job = RequalificationJob(pool, programs)
    await job.run_once()
    assert (await requalify_dates(pool, [early]))[early] is not None
    # Enrolled on the old ladder's first tier, committed after that pass.
    late = await enrolled(app)
    await pool.execute("UPDATE members SET tier = 'silver' WHERE member_id = $1", late)
    await job.run_once()
    assert (await requalify_dates(pool, [late]))[late] is None  # no sweep before the version settles
    settled = datetime.now(UTC) + timedelta(minutes=10)
    await job.run_once(settled)
    assert (await requalify_dates(pool, [late]))[late] is not None


async def test_members_a_lower_threshold_puts_over_it_move_up_with_the_job_not_at_their_next_purchase(
    pool: asyncpg.Pool,
) -> None:
    """The issue: "Upgrades happen immediately". A version that lowers silver from 1,000 to 500 points moves a
    member with 800 up at the job's first pass under it, announced as TierReached; one with 300 stays."""
    programs = await program(pool, POINTS_PROGRAM)
    app = PointsApplication(pool, 1, programs)
    over, under = await enrolled(app), await enrolled(app)
    for member_id, amount_minor in ((over, 8000), (under, 3000)):  # 800 and 300 points
        await app.record_purchase(
            Purchase(new_id("p"), member_id, Money(amount_minor, "USD"), (), datetime.now(UTC), "")
        )
    lowered = POINTS_PROGRAM.replace("effective_from: 2020-01-01", "effective_from: 2021-01-01").replace(
        "{name: silver, threshold: 1000,", "{name: silver, threshold: 500,"
    )
    await programs.apply(lowered)
    assert ((await app.member(over)).tier, (await app.member(under)).tier) == ("member", "member")

    await RequalificationJob(pool, programs).run_once()

    assert ((await app.member(over)).tier, (await app.member(under)).tier) == ("silver", "member")
    reached = await tier_events(pool, over)
    assert [(e.previous_tier, e.tier, e.qualifying_value) for e in reached] == [  # type: ignore[attr-defined]
        ("member", "silver", "800")
    ]
    assert await pool.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", over) is not None
