"""SQL for perks: members' birth dates and the birthday rewards due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg


async def set_birth_date(connection: asyncpg.Connection, member_id: str, birth_date: date) -> None:
    await connection.execute(
        """INSERT INTO member_birthdays (member_id, birth_date) VALUES ($1, $2)
           ON CONFLICT (member_id) DO UPDATE SET birth_date = EXCLUDED.birth_date""",
        member_id,
        birth_date,
    )


async def birthday_grants_due(
    connection: asyncpg.Connection, reward_ids: Sequence[str], month_days: Sequence[tuple[int, int]], grant_key: str
) -> list[tuple[str, str]]:
    """(member id, reward id) of birthday rewards not yet granted under `grant_key` to members born on a day given
    whose tier (as this service last heard it) is at least the reward's `min_tier` on the ladder."""
    rows = await connection.fetch(
        """SELECT b.member_id, w.reward_id FROM member_birthdays b CROSS JOIN rewards w
             LEFT JOIN member_tiers t ON t.member_id = b.member_id
            WHERE w.reward_id = ANY($1::uuid[])
              AND (extract(month FROM b.birth_date)::int, extract(day FROM b.birth_date)::int)
                  IN (SELECT * FROM unnest($2::int[], $3::int[]))
              AND (w.min_tier = ''
                   OR (SELECT rank FROM tier_ladder WHERE tier = t.tier)
                      >= (SELECT rank FROM tier_ladder WHERE tier = w.min_tier))
              AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.member_id = b.member_id
                                 AND r.reward_id = w.reward_id AND r.grant_key = $4)
            ORDER BY b.member_id, w.reward_id""",
        list(reward_ids),
        [month for month, _ in month_days],
        [day for _, day in month_days],
        grant_key,
    )
    return [(row["member_id"], str(row["reward_id"])) for row in rows]
