"""The tiers members held over time (member_tier_history, kept by the database since migration points/041)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class HeldRow:
    tier: str
    # When the member reached it.
    since: datetime


async def tiers_held_at(connection: asyncpg.Connection, moments: Sequence[tuple[str, datetime]]) -> list[HeldRow]:
    """The tier each (member, moment) held, in order, in one round trip: the one reached last at or before the
    moment; before any (a purchase made before the member enrolled or, for a member enrolled before migration
    points/041, before reaching the tier it found them in), the earliest one known."""
    records = await connection.fetch(
        """SELECT held.tier, held.since
             FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS m (member_id, at, ord)
            CROSS JOIN LATERAL (
                  (SELECT h.tier, h.since, 0 AS earliest_known FROM member_tier_history h
                    WHERE h.member_id = m.member_id AND h.since <= m.at ORDER BY h.since DESC LIMIT 1)
                  UNION ALL
                  (SELECT h.tier, h.since, 1 FROM member_tier_history h
                    WHERE h.member_id = m.member_id ORDER BY h.since LIMIT 1)
                  ORDER BY earliest_known LIMIT 1) AS held
            ORDER BY m.ord""",
        [member_id for member_id, _ in moments],
        [moment for _, moment in moments],
    )
    return [HeldRow(record["tier"], record["since"]) for record in records]
