"""The inbox forgets events applied longer ago than its retention, and only those."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from services.common.inbox import InboxPruning


async def remember(pool: asyncpg.Pool, age: timedelta, count: int, prefix: str) -> None:
    await pool.execute(
        """INSERT INTO inbox (consumer, event_id, topic, applied_at)
           SELECT 'rewards.points', $3 || n, 'points.events.v1', now() - $1::interval FROM generate_series(1, $2) n""",
        age,
        count,
        prefix,
    )


async def test_rows_past_the_retention_are_deleted_a_batch_at_a_time_and_newer_ones_kept(pool: asyncpg.Pool) -> None:
    await remember(pool, timedelta(days=45), 5, "old-")
    await remember(pool, timedelta(days=29), 3, "recent-")
    pruning = InboxPruning(pool, timedelta(days=30), batch=2)
    assert await pruning.run_once() == 5
    left = await pool.fetch("SELECT event_id FROM inbox ORDER BY event_id")
    assert [row["event_id"] for row in left] == ["recent-1", "recent-2", "recent-3"]
    assert await pruning.run_once() == 0
