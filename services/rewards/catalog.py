"""Catalog use cases: create, change, archive and list rewards; partner code pools; the tier ladder."""

from __future__ import annotations

import uuid
from collections import Counter

import asyncpg

from services.common import page_tokens
from services.common.db import unit_of_work
from services.common.errors import FailedPrecondition, NotFound, Violations
from services.common.member_ids import require_member_id
from services.common.member_tiers import is_closed
from services.rewards import catalog_store, codes, domain, paging
from services.rewards import redemption_store as redemptions
from services.rewards.domain import Reward, RewardSpec
from services.rewards.points_client import PointsClient

MAX_PARTNER_CODES = 100_000


async def eligibility_tier(pool: asyncpg.Pool, points: PointsClient, member_id: str) -> str:
    """The tier a reward's gating judges: the one learned from points events or, for a member not (yet) heard of
    that way, the points service's; NotFound for a member no one knows. No connection is held while asking."""
    async with pool.acquire() as connection:
        tier = await catalog_store.member_tier(connection, member_id)
    return tier if tier is not None else await points.tier(member_id)


class CatalogApplication:
    def __init__(self, pool: asyncpg.Pool, points: PointsClient) -> None:
        self._pool = pool
        self._points = points

    async def create(self, spec: RewardSpec) -> Reward:
        now = domain.utc_now()
        async with unit_of_work(self._pool) as connection:
            await catalog_store.hold_ladder(connection, to_replace=False)
            domain.validate_spec(spec, await catalog_store.ladder(connection))
            reward_id = await catalog_store.insert_reward(connection, spec, now)
            return await _reward(connection, str(reward_id))

    async def update(self, reward_id: str, spec: RewardSpec) -> Reward:
        parsed = str(paging.parse_id("reward_id", reward_id))
        now = domain.utc_now()
        async with unit_of_work(self._pool) as connection:
            previous = await _reward(connection, parsed, lock=True)
            violations = Violations()
            # A welcome perk is granted once per member and reward: another tier is another reward.
            for field in ("code_source", "trigger", "trigger_tier"):
                if getattr(spec, field) != getattr(previous.spec, field):
                    violations.add(f"spec.{field}", "cannot change; create another reward")
            violations.raise_if_any()
            await catalog_store.hold_ladder(connection, to_replace=False)
            domain.validate_spec(spec, await catalog_store.ladder(connection))
            if refusal := domain.stock_total_refusal(previous, spec.stock_total):
                raise FailedPrecondition(refusal)
            await catalog_store.update_reward(connection, parsed, spec, now)
            return await _reward(connection, parsed)

    async def archive(self, reward_id: str) -> Reward:
        parsed = str(paging.parse_id("reward_id", reward_id))
        async with unit_of_work(self._pool) as connection:
            await _reward(connection, parsed, lock=True)
            await catalog_store.archive_reward(connection, parsed, domain.utc_now())
            return await _reward(connection, parsed)

    async def get(self, reward_id: str) -> Reward:
        parsed = str(paging.parse_id("reward_id", reward_id))
        async with self._pool.acquire() as connection:
            return await _reward(connection, parsed)

    async def listing(
        self, member_id: str, include_archived: bool, page_size: int, page_token: str
    ) -> tuple[list[Reward], str]:
        """A page of rewards and the next page's token; with `member_id`, only what it can redeem now."""
        limit = paging.page_size(page_size, default=100, maximum=500)
        if member_id:
            require_member_id(member_id)
        listing = [member_id, str(include_archived)]
        after = page_tokens.read_time_and_id(page_token, listing)
        available = await self._points.available(member_id) if member_id else 0
        now = domain.utc_now()
        async with self._pool.acquire() as connection:
            page = await catalog_store.list_rewards(
                connection, after=after, limit=limit, active_only=bool(member_id) or not include_archived
            )
            last = page[-1] if len(page) == limit else None
            next_token = page_tokens.issue_after(listing, last.created_at, last.reward_id) if last else ""
            if not member_id:
                return page, next_token
            if await is_closed(connection, member_id):
                return [], ""  # RedeemReward refuses a closed member every reward, free ones too: none is listed
            ladder = await catalog_store.ladder(connection)
            used = {
                period: await redemptions.redeemed_since(connection, member_id, domain.period_start(period, now))
                for period in domain.LIMIT_PERIODS
            }
        gated = any(reward.spec.min_tier for reward in page)
        tier = await eligibility_tier(self._pool, self._points, member_id) if gated else None

        def redeemable(reward: Reward) -> bool:
            redeemed = used.get(reward.spec.limit_period, Counter())[reward.reward_id]
            refusal = domain.redeem_refusal(reward, tier, ladder, redeemed, now)
            return refusal is None and reward.spec.cost_points <= available

        return [reward for reward in page if redeemable(reward)], next_token

    async def add_partner_codes(self, reward_id: str, partner_codes: list[str]) -> tuple[int, int]:
        """(added, duplicates) after adding codes to a reward's partner pool."""
        violations = Violations()
        paging.check_id(violations, "reward_id", reward_id)
        if not 1 <= len(partner_codes) <= MAX_PARTNER_CODES:
            violations.add("codes", f"must hold 1-{MAX_PARTNER_CODES} codes")
        for index, code in enumerate(partner_codes):
            problem = codes.partner_code_problem(code)
            if problem:
                violations.add(f"codes[{index}]", problem)
        violations.raise_if_any()
        parsed = str(uuid.UUID(reward_id))
        async with unit_of_work(self._pool) as connection:
            reward = await _reward(connection, parsed, lock=True)
            if reward.spec.code_source != "partner_pool":
                raise FailedPrecondition("reward_id: the reward issues generated codes, not a partner pool")
            added = await catalog_store.add_partner_codes(connection, parsed, partner_codes)
        return added, len(partner_codes) - added

    async def set_ladder(self, tiers: list[str]) -> list[str]:
        domain.validate_ladder(tiers)
        async with unit_of_work(self._pool) as connection:
            await catalog_store.hold_ladder(connection, to_replace=True)
            missing = await catalog_store.min_tiers_outside(connection, tiers)
            if missing:
                raise FailedPrecondition(
                    f"tiers: rewards still need tiers missing from the ladder: {', '.join(missing)}"
                )
            await catalog_store.replace_ladder(connection, tiers)
            return await catalog_store.ladder(connection)


async def _reward(connection: asyncpg.Connection, reward_id: str, *, lock: bool = False) -> Reward:
    reward = await catalog_store.get_reward(connection, reward_id, lock=lock)
    if reward is None:
        raise NotFound(f"reward_id: no reward {reward_id!r}")
    return reward
