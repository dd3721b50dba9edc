"""Whether a member may redeem a reward, asked before anything is written: the request's fields, the member's
closure, the reward's tier, stock, window and per-member limit; and a points hold's refusal in a redemption's words."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

import asyncpg

from services.common.errors import FailedPrecondition, ResourceExhausted, Violations
from services.common.member_ids import check_member_id
from services.common.member_tiers import require_open
from services.common.text_fields import check_line
from services.rewards import catalog_store, domain, paging
from services.rewards import redemption_store as store

# What a closure (MemberClosed, kept in member_closures) refuses here, after "member_id: member ... is closed: ".
NO_REDEMPTION = "no reward can be redeemed"


def validate_redeem(member_id: str, reward_id: str, idempotency_key: str) -> uuid.UUID:
    violations = Violations()
    check_member_id(violations, "member_id", member_id)
    check_line(violations, "idempotency_key", idempotency_key, max_length=domain.MAX_KEY, required=True)
    paging.check_id(violations, "reward_id", reward_id)
    violations.raise_if_any()
    return uuid.UUID(reward_id)


class TierUnheardOf(Exception):
    """The member is not in this service's tier view yet: the points service is asked, and the redemption tried
    again with its answer."""


async def check_redeemable(
    connection: asyncpg.Connection,
    member_id: str,
    reward: domain.Reward,
    tier_from_points: str | None,
    now: datetime,
) -> None:
    await require_open(connection, member_id, NO_REDEMPTION)
    used: Counter[str] = Counter()
    if reward.spec.per_member_limit:
        since = domain.period_start(reward.spec.limit_period, now)
        used = await store.redeemed_since(connection, member_id, since, reward.reward_id)
    tier = None
    # A free reward takes no hold, which is what otherwise finds out that the member does not exist.
    if reward.spec.min_tier or not reward.spec.cost_points:
        tier = await catalog_store.member_tier(connection, member_id) or tier_from_points
        if tier is None:
            raise TierUnheardOf
    refusal = domain.redeem_refusal(
        reward,
        tier,
        await catalog_store.ladder(connection),
        used[reward.reward_id],
        now,
    )
    if refusal is not None:
        raise ResourceExhausted(refusal.reason) if refusal.out_of_stock else FailedPrecondition(refusal.reason)


def hold_refusal(error: FailedPrecondition) -> FailedPrecondition:
    """Why the points service would not hold the points, in the redemption's words: short of points (its refusal
    names `points`), or another reason as it gave it, such as the member's closure (naming `member_id`)."""
    if error.message.startswith("points:"):
        return FailedPrecondition(f"not enough points: {error.message}")
    return FailedPrecondition(error.message)
