"""A 12-month insights dashboard's KPI reports over many members, next to a plain scan of the same data.

    python bench/insights_kpis.py [--members 200000] [--months 12]

Starts an embedded PostgreSQL alone (the reports run in this process, as the
insights service runs them), migrates an insights database and seeds it with
COPY, not measured: `--members` members enrolled over the two years before
this month (each with the tier at enrolment, one in ten upgraded to silver
since), three purchases each (one in twenty in EUR) with their points earned,
a partner accrual for one member in four, a redemption (and its reward) for
one in five, an expiry for one in ten and a survey for one in twenty, all at
random times between the enrolment and now. Then, each timed:

- ceiling: `SELECT count(*), sum(points) FROM points_movements` (the median
  of five), the least a report that sums every movement ever made must read;
- dashboard: `--months` reports, one per calendar month ending with this one
  (InsightsApplication.monthly, what the dashboard's page asks for);
- by tier, by partner: this month's report segmented.

The peak memory of this process is printed too: a report that reads a row
per member into Python needs memory in proportion to the members.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import asyncpg

from services.common.embedded import EmbeddedPostgres
from services.common.migrations import migrate
from services.insights.application import Grouping, InsightsApplication
from services.insights.kpis import Window
from services.insights.settings import InsightsSettings

T = TypeVar("T")
PARTNERS = ("sky-air", "hotel-co", "car-go")
SEED_BLOCK = 10_000
CEILING = "SELECT count(*), sum(points) FROM points_movements"


def _seed_rows(first: int, members: int, now: datetime) -> dict[str, list[tuple[object, ...]]]:
    """The rows of members `first` to `first + members - 1`."""
    rng = random.Random(first)
    span = timedelta(days=730).total_seconds()
    rows: dict[str, list[tuple[object, ...]]] = {
        "members": [],
        "tier_changes": [],
        "purchases": [],
        "points_movements": [],
        "redemptions": [],
        "surveys": [],
    }

    def after(start: datetime) -> datetime:
        return start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))

    for index in range(first, first + members):
        member_id = f"bench-{index:07d}"
        enrolled_at = now - timedelta(seconds=rng.uniform(0, span))
        rows["members"].append((member_id, enrolled_at))
        rows["tier_changes"].append((f"{member_id}-enrolled", member_id, "base", None, False, enrolled_at))
        if index % 10 == 0:
            rows["tier_changes"].append((f"{member_id}-silver", member_id, "silver", "base", True, after(enrolled_at)))
        for purchase in range(3):
            bought_at, amount = after(enrolled_at), rng.randrange(500, 20000)
            currency = "EUR" if (index + purchase) % 20 == 0 else "USD"
            rows["purchases"].append((f"{member_id}-p{purchase}", member_id, amount, currency, bought_at))
            movement = (f"{member_id}-p{purchase}-earned", member_id, "earned", amount // 100, None, bought_at)
            rows["points_movements"].append(movement)
        if index % 4 == 0:
            partner = PARTNERS[index % len(PARTNERS)]
            accrued_at = after(enrolled_at)
            rows["points_movements"].append((f"{member_id}-a", member_id, "earned", 500, partner, accrued_at))
        if index % 5 == 0:
            redeemed_at = after(enrolled_at)
            rows["points_movements"].append((f"{member_id}-r", member_id, "redeemed", -100, None, redeemed_at))
            rows["redemptions"].append((f"{member_id}-r", member_id, 100, redeemed_at, None))
        if index % 10 == 0:
            rows["points_movements"].append((f"{member_id}-x", member_id, "expired", -20, None, after(enrolled_at)))
        if index % 20 == 0:
            answer = (rng.randint(1, 7), rng.randint(1, 5), rng.randint(0, 10))
            rows["surveys"].append((f"{member_id}-t", member_id, *answer, after(enrolled_at)))
    return rows


async def _seed(connection: asyncpg.Connection, members: int, now: datetime) -> int:
    """COPY by blocks of members, so that the seed's rows never take this process's memory."""
    movements = 0
    for first in range(0, members, SEED_BLOCK):
        rows = _seed_rows(first, min(SEED_BLOCK, members - first), now)
        for table, records in rows.items():
            await connection.copy_records_to_table(table, records=records)
        movements += len(rows["points_movements"])
    await connection.execute("VACUUM ANALYZE")
    return movements


async def _timed(work: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work
    return result, time.perf_counter() - started


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(members: int, months: int) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedPostgres(Path(data_dir))
        await server.start()
        try:
            await server.ensure_databases(["insights"])
            await migrate(server.url("insights"), "insights")
            pool = await asyncpg.create_pool(server.url("insights"), min_size=1, max_size=2)
            try:
                async with pool.acquire() as connection:
                    movements = await _seed(connection, members, now)
                    seeded_mib = _peak_mib()
                    # Once to warm the cache, as the reports then find it; then the median of five.
                    await connection.fetchrow(CEILING)
                    ceiling_s = statistics.median([(await _timed(connection.fetchrow(CEILING)))[1] for _ in range(5)])
                settings = InsightsSettings(dashboard_port=0, currency="USD", cost_per_point=Decimal("0.01"))
                insights = InsightsApplication(pool, settings, now=lambda: now)
                reports, dashboard_s = await _timed(insights.monthly(months))
                this_month = reports[-1].window
                _, by_tier_s = await _timed(insights.report(Window(this_month.start, this_month.end), Grouping.TIER))
                _, by_partner_s = await _timed(insights.report(this_month, Grouping.PARTNER))
            finally:
                await pool.close()
        finally:
            await server.stop()
    last = reports[-1].total
    print(f"{members} members, {movements} points movements, embedded PostgreSQL, reports in this process")
    print(f"  ceiling: count(*), sum(points) FROM points_movements   {1000 * ceiling_s:9.1f} ms")
    per_report = dashboard_s / months
    print(
        f"  dashboard: {months} monthly reports   {dashboard_s:8.2f} s   {1000 * per_report:9.1f} ms a report"
        f"   ratio to the ceiling {per_report / ceiling_s:7.1f}"
    )
    for name, seconds in (("by tier", by_tier_s), ("by partner", by_partner_s)):
        print(
            f"  this month {name + ':':<12} {1000 * seconds:9.1f} ms   ratio to the ceiling {seconds / ceiling_s:7.1f}"
        )
    print(f"  peak memory of this process: {_peak_mib():.0f} MiB ({seeded_mib:.0f} MiB after seeding)")
    print(
        f"  this month: {last.members_total} members, {last.members_active} active, "
        f"{last.points_outstanding} points outstanding, tiers {last.tier_distribution}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=12)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.members, arguments.months))
