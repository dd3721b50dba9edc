"""Passes of the periodic tier and expiry jobs over many due members, next to raw COPY into Postgres in the same run.

    python bench/batch_jobs.py [--members 100000]

Starts an embedded PostgreSQL alone (the jobs run in this process, as the
points service runs them), migrates a points database, applies a program with
two tiers on a 12-month rolling window and points that expire after 24 months
without activity, and seeds, set-based and not measured,
`--members` silver members whose requalification is due, each born in the
current month (the program pays a birthday bonus in the birth month). Each has a lot of 100
points that expired yesterday and a lot that never expires by date: 2,000
points earned by a purchase 100 days ago for half of them (they keep silver),
100 for the other half (they lose it). Every tenth member (of the second half)
made that purchase 800 days ago instead, and is dormant. Then, each timed:

- ceiling: asyncpg COPY of `--members` rows (member id, points, a timestamp)
  into a plain table on the same Postgres;
- tier-at-risk: one TierAtRiskJob pass as it ran the day before: it checks
  every member and warns the half who would lose silver;
- expiry: one ExpiryJob pass, which expires the dormant members' points and
  takes the expired lot off every member;
- requalification: one RequalificationJob pass, which moves half of them
  down to the base tier and keeps the other half silver for another window;
- birthday: one BirthdayJob pass, which credits every member's bonus;
- inactivity reminder: one ExpiryJob pass 620 days later, when the members
  who were not dormant (last active 100 days before, all at one instant, as
  a cohort enrolled on one day would be) are 10 days from losing their
  points for want of activity: it reminds every one of them.

The jobs write, for each member, about what the ceiling writes once (an entry
and its draw, a lot's update, an event; a member's update and an event; or an
entry, its lot and an event).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import asyncpg

from services.common.embedded import EmbeddedPostgres
from services.common.migrations import migrate
from services.points.birthdays import BirthdayJob
from services.points.expiry import ExpiryJob
from services.points.program_application import ProgramApplication
from services.points.tier_application import RequalificationJob
from services.points.tier_risk import TierAtRiskJob

T = TypeVar("T")
INACTIVITY_REMINDER_AT = datetime.now(UTC) + timedelta(days=620)

PROGRAM = """
id: bench-club
name: Bench Club
effective_from: 2020-01-01
currency: USD
earning: {base_rates: {USD: 10}}
tiers:
  basis: points
  window: rolling
  window_months: 12
  levels:
    - {name: base, threshold: 0}
    - {name: silver, threshold: 1000, earn_bonus_percent: 10}
expiry: {inactivity_months: 24}
bonuses:
  birthday: {points: 250, when: month}
"""


async def _seed(connection: asyncpg.Connection, members: int) -> None:
    await connection.execute(
        """INSERT INTO members (member_id, email, given_name, family_name, tier, requalify_at, birth_date, enrolled_at)
           SELECT 'bench-' || lpad(i::text, 7, '0'), '', '', '', 'silver', now() - interval '1 hour',
                  make_date(1990, extract(month FROM now())::int, 1 + i % 28), now() - interval '1000 days'
             FROM generate_series(1, $1) AS i""",
        members,
    )
    # Every tenth member last bought 800 days ago: dormant under the 24-month inactivity policy.
    await connection.execute(
        """INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, created_at,
                                       qualifies_at)
           SELECT gen_random_uuid(), 'bench-' || lpad(i::text, 7, '0'), e.kind,
                  CASE WHEN e.kind = 'purchase_earn' AND i % 2 = 1 THEN 2000 ELSE 100 END,
                  'bench-' || i || '-' || e.kind, '', t.at, CASE WHEN e.kind = 'purchase_earn' THEN t.at END
             FROM generate_series(1, $1) AS i, (VALUES ('adjustment'), ('purchase_earn')) AS e (kind),
                  LATERAL (SELECT now() - CASE WHEN e.kind = 'adjustment' THEN interval '400 days'
                                               WHEN i % 10 = 0 THEN interval '800 days'
                                               ELSE interval '100 days' END) AS t (at)""",
        members,
    )
    await connection.execute(
        """INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
           SELECT gen_random_uuid(), member_id, entry_id, points, points, created_at, created_at,
                  CASE kind WHEN 'adjustment' THEN now() - interval '1 day' END
             FROM ledger_entries"""
    )
    # A running deployment's outbox keeps every event it published (for replay): one each, here.
    # On a fresh, never analyzed outbox the foreign key check of outbox_pending keeps a plan made
    # for a table of a few rows, a scan, and every batch of events then reads the whole table.
    await connection.execute(
        """INSERT INTO outbox (event_id, topic, message_key, event_type, envelope)
           SELECT gen_random_uuid(), 'points.events.v1', member_id, 'loyalty.events.v1.PointsEarned', ''
             FROM members"""
    )
    await connection.execute("VACUUM ANALYZE")


async def _copy_ceiling(connection: asyncpg.Connection, members: int) -> float:
    await connection.execute("CREATE TABLE copy_ceiling (member_id text, points bigint, at timestamptz)")
    now = datetime.now(UTC)
    rows = [(f"bench-{index:07d}", 100, now) for index in range(members)]
    started = time.perf_counter()
    await connection.copy_records_to_table("copy_ceiling", records=rows)
    return members / (time.perf_counter() - started)


async def _timed(pass_: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await pass_
    return result, time.perf_counter() - started


async def main(members: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedPostgres(Path(data_dir))
        await server.start()
        try:
            await server.ensure_databases(["points"])
            await migrate(server.url("points"), "points")
            pool = await asyncpg.create_pool(server.url("points"), min_size=1, max_size=2)
            try:
                programs = ProgramApplication(pool)
                await programs.apply(PROGRAM)
                async with pool.acquire() as connection:
                    await _seed(connection, members)
                    ceiling = await _copy_ceiling(connection, members)
                # As the job ran the day before requalification was due.
                at_risk = TierAtRiskJob(pool, programs, warn_before=timedelta(days=30))
                warned, at_risk_s = await _timed(at_risk.run_once(datetime.now(UTC) - timedelta(days=1)))
                checked = await pool.fetchval("SELECT count(*) FROM members WHERE at_risk_checked_for IS NOT NULL")
                expiry, expiry_s = await _timed(ExpiryJob(pool, programs).run_once())
                requalified, requalification_s = await _timed(RequalificationJob(pool, programs).run_once())
                birthdays, birthday_s = await _timed(BirthdayJob(pool, programs).run_once())
                # 620 days on, the members who were not dormant (all last active 100 days ago) are 10 days from
                # losing their points for want of activity: every one of them is reminded in that pass.
                reminders, reminder_s = await _timed(ExpiryJob(pool, programs).run_once(INACTIVITY_REMINDER_AT))
                tiers = dict(await pool.fetch("SELECT tier, count(*) FROM members GROUP BY tier"))
            finally:
                await pool.close()
        finally:
            await server.stop()
    print(f"{members} members due, embedded PostgreSQL, jobs in this process")
    print(f"  ceiling: COPY into a plain table   {ceiling:10.0f} rows/s")
    passes = (
        ("tier-at-risk (members checked)", checked, at_risk_s),
        ("expiry", expiry.members_expired, expiry_s),
        ("requalification", requalified, requalification_s),
        ("birthday", birthdays.members_credited, birthday_s),
        ("inactivity reminder", reminders.members_reminded, reminder_s),
    )
    for name, done, seconds in passes:
        rate = done / seconds
        line = f"  {name + ' pass':<32} {rate:10.0f} members/s   ratio {rate / ceiling:.3f}"
        print(f"{line}   ({done} in {seconds:.2f} s)")
    print(f"  warned {warned}; points expired: {expiry.points_expired}; tiers after: {tiers}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().members))
