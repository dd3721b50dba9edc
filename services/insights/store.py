"""SQL of the insights read model: recording facts (idempotently) and reading a window's facts set-based.

Facts are recorded through `Writes`, sent together once per consumed batch (services/common/read_model.py):
so every recording statement is idempotent and does not depend on the order of the others.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.common.read_model import Writes
from services.insights.kpis import Accrual, MemberFacts, SurveyAnswer, TierMove, Window, WindowFacts


async def record_member(writes: Writes, member_id: str, enrolled_at: datetime) -> None:
    await writes.execute(
        "INSERT INTO members (member_id, enrolled_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", member_id, enrolled_at
    )


async def record_tier_change(
    writes: Writes,
    event_id: str,
    member_id: str,
    tier: str,
    previous_tier: str | None,
    upgrade: bool,
    changed_at: datetime,
) -> None:
    await writes.execute(
        """INSERT INTO tier_changes (event_id, member_id, tier, previous_tier, upgrade, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        event_id,
        member_id,
        tier,
        previous_tier,
        upgrade,
        changed_at,
    )


async def record_purchase(
    writes: Writes,
    purchase_id: str,
    member_id: str,
    amount_minor: int,
    currency: str,
    occurred_at: datetime,
) -> None:
    """A purchase once, whichever path (commerce event or points event) brings it first."""
    await writes.execute(
        """INSERT INTO purchases (purchase_id, member_id, amount_minor, currency, occurred_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        purchase_id,
        member_id,
        amount_minor,
        currency,
        occurred_at,
    )


async def record_points(
    writes: Writes,
    event_id: str,
    member_id: str,
    kind: str,
    points: int,
    occurred_at: datetime,
    partner_id: str | None = None,
) -> None:
    """A change to the points a member holds; `points` signed as it moves the liability."""
    await writes.execute(
        """INSERT INTO points_movements (event_id, member_id, kind, points, partner_id, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        event_id,
        member_id,
        kind,
        points,
        partner_id,
        occurred_at,
    )


async def record_redemption(
    writes: Writes, redemption_id: str, member_id: str, points: int, redeemed_at: datetime
) -> None:
    await writes.execute(
        """INSERT INTO redemptions (redemption_id, member_id, points, redeemed_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (redemption_id) DO UPDATE SET redeemed_at = EXCLUDED.redeemed_at, points = EXCLUDED.points""",
        redemption_id,
        member_id,
        points,
        redeemed_at,
    )


async def record_cancellation(writes: Writes, redemption_id: str, member_id: str, cancelled_at: datetime) -> None:
    """Also when the cancellation arrives before the redemption it cancels."""
    await writes.execute(
        """INSERT INTO redemptions (redemption_id, member_id, points, cancelled_at) VALUES ($1, $2, 0, $3)
           ON CONFLICT (redemption_id) DO UPDATE SET cancelled_at = EXCLUDED.cancelled_at""",
        redemption_id,
        member_id,
        cancelled_at,
    )


async def record_survey(
    writes: Writes,
    ticket_id: str,
    member_id: str,
    answer: tuple[int, int, int],
    submitted_at: datetime,
) -> None:
    """`answer` is (effort, satisfaction, recommend); a ticket has one survey."""
    effort, satisfaction, recommend = answer
    await writes.execute(
        """INSERT INTO surveys (ticket_id, member_id, effort, satisfaction, recommend, submitted_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        ticket_id,
        member_id,
        effort,
        satisfaction,
        recommend,
        submitted_at,
    )


# One row per member enrolled before the window's end. $1 previous start, $2 start, $3 end, $4 program currency.
_MEMBER_FACTS = """
WITH tiers AS (
    SELECT DISTINCT ON (member_id) member_id, tier
    FROM tier_changes WHERE changed_at < $3
    ORDER BY member_id, changed_at DESC, previous_tier IS NOT NULL DESC, event_id
), bought AS (
    SELECT member_id,
           count(*) FILTER (WHERE occurred_at >= $2) AS purchases,
           COALESCE(sum(amount_minor) FILTER (WHERE occurred_at >= $2 AND currency = $4), 0)::bigint AS revenue,
           COALESCE(sum(amount_minor) FILTER (WHERE occurred_at < $2 AND currency = $4), 0)::bigint AS previous_revenue,
           bool_or(occurred_at < $2) AS bought_before
    FROM purchases WHERE occurred_at >= $1 AND occurred_at < $3
    GROUP BY member_id
), moved AS (
    SELECT member_id,
           COALESCE(sum(points) FILTER (WHERE kind = 'earned' AND occurred_at >= $2), 0)::bigint AS earned,
           COALESCE(-sum(points) FILTER (WHERE kind = 'redeemed' AND occurred_at >= $2), 0)::bigint AS redeemed,
           COALESCE(-sum(points) FILTER (WHERE kind = 'expired' AND occurred_at >= $2), 0)::bigint AS expired,
           sum(points)::bigint AS outstanding,
           COALESCE(array_agg(DISTINCT partner_id) FILTER (WHERE partner_id IS NOT NULL AND occurred_at >= $2), '{}')
               AS partners,
           COALESCE(bool_or(partner_id IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2), false) AS accrued_before
    FROM points_movements WHERE occurred_at < $3
    GROUP BY member_id
), rewarded AS (
    SELECT member_id, count(*) AS rewards
    FROM redemptions WHERE redeemed_at >= $2 AND redeemed_at < $3 AND cancelled_at IS NULL
    GROUP BY member_id
)
SELECT m.member_id, m.enrolled_at, COALESCE(t.tier, '') AS tier,
       COALESCE(b.purchases, 0) AS purchases, COALESCE(b.revenue, 0) AS revenue,
       COALESCE(b.previous_revenue, 0) AS previous_revenue,
       COALESCE(b.bought_before, false) OR COALESCE(p.accrued_before, false) AS active_before,
       COALESCE(p.earned, 0) AS earned, COALESCE(p.redeemed, 0) AS redeemed, COALESCE(p.expired, 0) AS expired,
       COALESCE(p.outstanding, 0) AS outstanding, COALESCE(p.partners, '{}') AS partners,
       COALESCE(r.rewards, 0) AS rewards
FROM members m
LEFT JOIN tiers t USING (member_id)
LEFT JOIN bought b USING (member_id)
LEFT JOIN moved p USING (member_id)
LEFT JOIN rewarded r USING (member_id)
WHERE m.enrolled_at < $3
ORDER BY m.member_id
"""

_SURVEYS = """
SELECT s.member_id, s.effort, s.satisfaction, s.recommend
FROM surveys s JOIN members m USING (member_id)
WHERE s.submitted_at >= $1 AND s.submitted_at < $2 AND m.enrolled_at < $2
"""

_TIER_MOVES = """
SELECT c.member_id, c.previous_tier, c.tier, c.upgrade
FROM tier_changes c JOIN members m USING (member_id)
WHERE c.previous_tier IS NOT NULL AND c.changed_at >= $1 AND c.changed_at < $2 AND m.enrolled_at < $2
"""

_ACCRUALS = """
SELECT p.partner_id, p.member_id, count(*) AS accruals, sum(p.points)::bigint AS points
FROM points_movements p JOIN members m USING (member_id)
WHERE p.partner_id IS NOT NULL AND p.occurred_at >= $1 AND p.occurred_at < $2 AND m.enrolled_at < $2
GROUP BY p.partner_id, p.member_id
"""


async def window_facts(connection: asyncpg.Connection, window: Window, currency: str) -> WindowFacts:
    """Everything the KPIs of `window` need, read in one snapshot (the caller's transaction)."""
    rows = await connection.fetch(_MEMBER_FACTS, window.previous.start, window.start, window.end, currency)
    members = [
        MemberFacts(
            member_id=r["member_id"],
            enrolled_at=r["enrolled_at"],
            tier=r["tier"],
            purchases=r["purchases"],
            revenue_minor=r["revenue"],
            previous_revenue_minor=r["previous_revenue"],
            partners=frozenset(r["partners"]),
            active_before=r["active_before"],
            points_earned=r["earned"],
            points_redeemed=r["redeemed"],
            points_expired=r["expired"],
            points_outstanding=r["outstanding"],
            rewards_redeemed=r["rewards"],
        )
        for r in rows
    ]
    surveys = await connection.fetch(_SURVEYS, window.start, window.end)
    moves = await connection.fetch(_TIER_MOVES, window.start, window.end)
    accruals = await connection.fetch(_ACCRUALS, window.start, window.end)
    return WindowFacts(
        window=window,
        members=members,
        surveys=[SurveyAnswer(*s) for s in surveys],
        tier_moves=[TierMove(*m) for m in moves],
        accruals=[Accrual(*a) for a in accruals],
    )
