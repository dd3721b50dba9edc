"""SQL of the insights read model: recording facts (idempotently) and reading a window's facts summed set-based.

Facts are recorded through `Writes`, sent together once per consumed batch (services/common/read_model.py):
so every recording statement is idempotent and does not depend on the order of the others.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

import asyncpg

from services.common.read_model import Writes
from services.insights.kpis import MemberSums, SurveySums, TierFacts, Window, WindowFacts


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


# The KPIs are summed in PostgreSQL per segment and per tier held at the window's end: a report reads a row
# per tier, and per partner and tier, never a row per member. Each statement takes its rows of the window (one
# per member, survey, tier change or partner accrual, with the member's tier at the window's end), then
# segments them: every row once in the whole program (segment partner NULL), and once more for each partner
# the member accrued with in the window.


def _segmented(rows: str, sums: str, *, start: str, end: str, keys: str = "") -> str:
    """Sums of `rows` (columns member_id and tier, at least) per segment partner and tier (and `keys`)."""
    return f"""
WITH rows AS MATERIALIZED ({rows}
), partnered AS (
    SELECT DISTINCT member_id, partner_id FROM points_movements
    WHERE partner_id IS NOT NULL AND occurred_at >= {start} AND occurred_at < {end}
), segmented AS (
    SELECT NULL::text AS segment_partner, r.* FROM rows r
    UNION ALL
    SELECT p.partner_id, r.* FROM rows r JOIN partnered p USING (member_id)
)
SELECT segment_partner, tier{keys}, {sums}
FROM segmented
GROUP BY segment_partner, tier{keys}
"""


def _tier_at(member_id: str, end: str) -> str:
    """The tier `member_id` holds at `end` ('' when unknown), as a lateral join giving `tier`."""
    return f"""LEFT JOIN LATERAL (
        SELECT held.tier FROM tier_changes held WHERE held.member_id = {member_id} AND held.changed_at < {end}
        ORDER BY held.changed_at DESC, held.previous_tier IS NOT NULL DESC, held.event_id LIMIT 1
    ) t ON true"""


# $1 previous start, $2 start, $3 end, $4 program currency. The segments are the roster (every member enrolled
# before the end, with their tier then) and the roster's members who accrued with each partner in the window;
# what members did in the two windows is read by time (a row per member with facts there), and the points held
# at the end are summed per segment straight from the movements.
_MEMBERS = """
WITH tiers AS (
    SELECT DISTINCT ON (member_id) member_id, tier
    FROM tier_changes WHERE changed_at < $3
    ORDER BY member_id, changed_at DESC, previous_tier IS NOT NULL DESC, event_id
), roster AS (
    SELECT m.member_id, COALESCE(t.tier, '') AS tier, m.enrolled_at >= $2 AS enrolled
    FROM members m LEFT JOIN tiers t USING (member_id)
    WHERE m.enrolled_at < $3
), partnered AS (
    SELECT DISTINCT member_id, partner_id FROM points_movements
    WHERE partner_id IS NOT NULL AND occurred_at >= $2 AND occurred_at < $3
), segments AS MATERIALIZED (
    SELECT NULL::text AS segment_partner, r.* FROM roster r
    UNION ALL
    SELECT p.partner_id, r.* FROM partnered p JOIN roster r USING (member_id)
), bought AS (
    SELECT member_id,
           count(*) FILTER (WHERE occurred_at >= $2) AS purchases,
           COALESCE(sum(amount_minor) FILTER (WHERE occurred_at >= $2 AND currency = $4), 0) AS revenue,
           COALESCE(sum(amount_minor) FILTER (WHERE occurred_at < $2 AND currency = $4), 0) AS previous_revenue,
           bool_or(occurred_at < $2) AS bought_before
    FROM purchases WHERE occurred_at >= $1 AND occurred_at < $3
    GROUP BY member_id
), moved AS (
    SELECT member_id,
           COALESCE(sum(points) FILTER (WHERE kind = 'earned' AND occurred_at >= $2), 0) AS earned,
           COALESCE(-sum(points) FILTER (WHERE kind = 'redeemed' AND occurred_at >= $2), 0) AS redeemed,
           COALESCE(-sum(points) FILTER (WHERE kind = 'expired' AND occurred_at >= $2), 0) AS expired,
           bool_or(partner_id IS NOT NULL AND occurred_at >= $2) AS accrued,
           bool_or(partner_id IS NOT NULL AND occurred_at < $2) AS accrued_before
    FROM points_movements WHERE occurred_at >= $1 AND occurred_at < $3
    GROUP BY member_id
), rewarded AS (
    SELECT member_id, count(*) AS rewards
    FROM redemptions WHERE redeemed_at >= $2 AND redeemed_at < $3 AND cancelled_at IS NULL
    GROUP BY member_id
), did AS (
    SELECT member_id,
           COALESCE(b.purchases, 0) AS purchases,
           COALESCE(b.purchases, 0) > 0 OR COALESCE(p.accrued, false) AS active,
           COALESCE(b.bought_before, false) OR COALESCE(p.accrued_before, false) AS active_before,
           COALESCE(b.revenue, 0) AS revenue, COALESCE(b.previous_revenue, 0) AS previous_revenue,
           COALESCE(p.earned, 0) AS earned, COALESCE(p.redeemed, 0) AS redeemed, COALESCE(p.expired, 0) AS expired,
           COALESCE(r.rewards, 0) AS rewards
    FROM bought b FULL JOIN moved p USING (member_id) FULL JOIN rewarded r USING (member_id)
), summed AS (
    SELECT s.segment_partner, s.tier,
           count(*) AS members_total,
           count(*) FILTER (WHERE s.enrolled) AS members_enrolled,
           count(*) FILTER (WHERE d.active) AS members_active,
           count(*) FILTER (WHERE d.active AND s.enrolled) AS new_members,
           count(*) FILTER (WHERE d.active_before) AS members_at_start,
           count(*) FILTER (WHERE d.purchases > 0) AS purchasing_members,
           count(*) FILTER (WHERE d.purchases >= 2) AS repeat_purchasers,
           COALESCE(sum(d.revenue), 0)::bigint AS revenue_minor,
           COALESCE(sum(d.revenue) FILTER (WHERE d.active_before), 0)::bigint AS existing_member_revenue_minor,
           COALESCE(sum(d.previous_revenue) FILTER (WHERE d.active_before), 0)::bigint
               AS existing_member_previous_revenue_minor,
           COALESCE(sum(d.earned), 0)::bigint AS points_earned,
           COALESCE(sum(d.redeemed), 0)::bigint AS points_redeemed,
           COALESCE(sum(d.expired), 0)::bigint AS points_expired,
           COALESCE(sum(d.rewards), 0)::bigint AS rewards_redeemed
    FROM segments s LEFT JOIN did d USING (member_id)
    GROUP BY s.segment_partner, s.tier
), held AS (
    SELECT s.segment_partner, s.tier, sum(p.points)::bigint AS points_outstanding
    FROM points_movements p JOIN segments s USING (member_id)
    WHERE p.occurred_at < $3
    GROUP BY s.segment_partner, s.tier
)
SELECT m.*, COALESCE(h.points_outstanding, 0) AS points_outstanding
FROM summed m LEFT JOIN held h ON h.segment_partner IS NOT DISTINCT FROM m.segment_partner AND h.tier = m.tier
"""

# $1 start, $2 end (as are the three below).
_SURVEYS = _segmented(
    f"""
    SELECT s.member_id, COALESCE(t.tier, '') AS tier, s.effort, s.satisfaction, s.recommend
    FROM surveys s JOIN members m USING (member_id)
    {_tier_at("s.member_id", "$2")}
    WHERE s.submitted_at >= $1 AND s.submitted_at < $2 AND m.enrolled_at < $2""",
    """count(*) AS answers,
       count(*) FILTER (WHERE recommend >= 9) AS promoters,
       count(*) FILTER (WHERE recommend <= 6) AS detractors,
       sum(effort)::bigint AS effort,
       count(*) FILTER (WHERE satisfaction >= 4) AS satisfied""",
    start="$1",
    end="$2",
)

_TIER_MOVES = _segmented(
    f"""
    SELECT c.member_id, COALESCE(t.tier, '') AS tier, c.previous_tier AS from_tier, c.tier AS to_tier, c.upgrade
    FROM tier_changes c JOIN members m USING (member_id)
    {_tier_at("c.member_id", "$2")}
    WHERE c.previous_tier IS NOT NULL AND c.changed_at >= $1 AND c.changed_at < $2 AND m.enrolled_at < $2""",
    "count(*) AS moves",
    start="$1",
    end="$2",
    keys=", from_tier, to_tier, upgrade",
)

_ACCRUALS = _segmented(
    f"""
    SELECT a.member_id, COALESCE(t.tier, '') AS tier, a.partner_id AS accrued_with, a.points
    FROM points_movements a JOIN members m USING (member_id)
    {_tier_at("a.member_id", "$2")}
    WHERE a.partner_id IS NOT NULL AND a.occurred_at >= $1 AND a.occurred_at < $2 AND m.enrolled_at < $2""",
    "count(*) AS accruals, sum(points)::bigint AS points, count(DISTINCT member_id) AS members",
    start="$1",
    end="$2",
    keys=", accrued_with",
)


class _Segments:
    """TierFacts gathered per (segment partner or None, tier) from the statements' rows."""

    def __init__(self) -> None:
        self.members: dict[tuple[str | None, str], MemberSums] = {}
        self.surveys: dict[tuple[str | None, str], SurveySums] = {}
        self.moves: dict[tuple[str | None, str], dict[tuple[str, str, bool], int]] = {}
        self.accruals: dict[tuple[str | None, str], dict[str, tuple[int, int, int]]] = {}

    def facts(self, window: Window) -> WindowFacts:
        def tier_facts(key: tuple[str | None, str]) -> TierFacts:
            return TierFacts(
                tier=key[1],
                members=self.members[key],
                surveys=self.surveys.get(key, SurveySums()),
                tier_moves=self.moves.get(key, {}),
                accruals=self.accruals.get(key, {}),
            )

        partners: dict[str, list[TierFacts]] = {}
        for key in self.members:
            if key[0] is not None:
                partners.setdefault(key[0], []).append(tier_facts(key))
        return WindowFacts(
            window=window,
            tiers=[tier_facts(key) for key in self.members if key[0] is None],
            partners=partners,
        )


async def window_facts(connection: asyncpg.Connection, window: Window, currency: str) -> WindowFacts:
    """Everything the KPIs of `window` need, read in one snapshot (the caller's transaction)."""
    # These statements are estimated dear (whole-history scans) though they take a second or less: compiling their
    # many aggregates to machine code (JIT) costs more than it saves, nearly half the time of a report.
    await connection.execute("SET LOCAL jit = off")
    segments = _Segments()
    member_sums = [field.name for field in fields(MemberSums)]
    for r in await connection.fetch(_MEMBERS, window.previous.start, window.start, window.end, currency):
        segments.members[r["segment_partner"], r["tier"]] = MemberSums(*(r[name] for name in member_sums))
    for r in await connection.fetch(_SURVEYS, window.start, window.end):
        key = r["segment_partner"], r["tier"]
        segments.surveys[key] = SurveySums(r["answers"], r["promoters"], r["detractors"], r["effort"], r["satisfied"])
    for r in await connection.fetch(_TIER_MOVES, window.start, window.end):
        key = r["segment_partner"], r["tier"]
        segments.moves.setdefault(key, {})[r["from_tier"], r["to_tier"], r["upgrade"]] = r["moves"]
    for r in await connection.fetch(_ACCRUALS, window.start, window.end):
        key = r["segment_partner"], r["tier"]
        segments.accruals.setdefault(key, {})[r["accrued_with"]] = (r["accruals"], r["points"], r["members"])
    return segments.facts(window)
