"""SQL for the catalog: rewards, the tier ladder and partner code pools."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.rewards.domain import Reward, RewardSpec, Value

_REWARD_COLUMNS = """
    r.reward_id, r.name, r.description, r.kind, r.amount_minor, r.currency_code, r.percent_off, r.sku,
    r.partner, r.cost_points, r.min_tier, r.stock_total, r.stock_available, r.stock_issued, r.valid_from, r.valid_until,
    r.per_member_limit, r.limit_period, r.code_source, r.code_validity, r.trigger, r.trigger_tier,
    r.status, r.created_at, r.updated_at, r.partner_codes_available"""


def value_of(row: asyncpg.Record) -> Value:
    return Value(
        kind=row["kind"],
        amount_minor=row["amount_minor"],
        currency_code=row["currency_code"],
        percent_off=row["percent_off"],
        sku=row["sku"],
        partner=row["partner"],
    )


# The columns a value is kept in, wherever it is kept (rewards, promo campaigns, redemptions).
VALUE_COLUMNS = "kind, amount_minor, currency_code, percent_off, sku, partner"


def value_arguments(value: Value) -> tuple[object, ...]:
    """A value as VALUE_COLUMNS hold it, in their order: what value_of reads back."""
    return (value.kind, value.amount_minor, value.currency_code, value.percent_off, value.sku, value.partner)


def _reward(row: asyncpg.Record) -> Reward:
    spec = RewardSpec(
        name=row["name"],
        description=row["description"],
        value=value_of(row),
        cost_points=row["cost_points"],
        min_tier=row["min_tier"],
        stock_total=row["stock_total"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        per_member_limit=row["per_member_limit"],
        limit_period=row["limit_period"],
        code_source=row["code_source"],
        code_validity=row["code_validity"],
        trigger=row["trigger"],
        trigger_tier=row["trigger_tier"],
    )
    return Reward(
        reward_id=str(row["reward_id"]),
        spec=spec,
        stock_available=row["stock_available"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        partner_codes_available=row["partner_codes_available"],
        stock_issued=row["stock_issued"],
    )


def _spec_arguments(spec: RewardSpec) -> tuple[object, ...]:
    return (
        spec.name,
        spec.description,
        *value_arguments(spec.value),
        spec.cost_points,
        spec.min_tier,
        spec.stock_total,
        spec.valid_from,
        spec.valid_until,
        spec.per_member_limit,
        spec.limit_period,
        spec.code_validity,
        spec.trigger_tier,
    )


async def insert_reward(connection: asyncpg.Connection, spec: RewardSpec, now: datetime) -> uuid.UUID:
    reward_id = uuid.uuid4()
    await connection.execute(
        """INSERT INTO rewards (name, description, kind, amount_minor, currency_code, percent_off, sku, partner,
                               cost_points, min_tier, stock_total, valid_from, valid_until, per_member_limit,
                               limit_period, code_validity, trigger_tier, reward_id,
                               code_source, trigger, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                   $19, $20, $21, $21)""",
        *_spec_arguments(spec),
        reward_id,
        spec.code_source,
        spec.trigger,
        now,
    )
    return reward_id


async def update_reward(connection: asyncpg.Connection, reward_id: str, spec: RewardSpec, now: datetime) -> None:
    await connection.execute(
        """UPDATE rewards SET name = $1, description = $2, kind = $3, amount_minor = $4, currency_code = $5,
                  percent_off = $6, sku = $7, partner = $8, cost_points = $9, min_tier = $10, stock_total = $11,
                  valid_from = $12, valid_until = $13, per_member_limit = $14, limit_period = $15,
                  code_validity = $16, trigger_tier = $17, updated_at = $18
            WHERE reward_id = $19""",
        *_spec_arguments(spec),
        now,
        uuid.UUID(reward_id),
    )


async def archive_reward(connection: asyncpg.Connection, reward_id: str, now: datetime) -> None:
    await connection.execute(
        "UPDATE rewards SET status = 'archived', updated_at = $2 WHERE reward_id = $1 AND status <> 'archived'",
        uuid.UUID(reward_id),
        now,
    )


async def get_reward(connection: asyncpg.Connection, reward_id: str, *, lock: bool = False) -> Reward | None:
    suffix = " FOR UPDATE OF r" if lock else ""
    row = await connection.fetchrow(
        f"SELECT {_REWARD_COLUMNS} FROM rewards r WHERE r.reward_id = $1{suffix}", uuid.UUID(reward_id)
    )
    return None if row is None else _reward(row)


async def list_rewards(
    connection: asyncpg.Connection, *, after: tuple[datetime, uuid.UUID] | None, limit: int, active_only: bool
) -> list[Reward]:
    rows = await connection.fetch(
        f"""SELECT {_REWARD_COLUMNS} FROM rewards r
             WHERE ($1::timestamptz IS NULL OR (r.created_at, r.reward_id) > ($1, $2::uuid))
               AND (NOT $3 OR r.status = 'active')
             ORDER BY r.created_at, r.reward_id
             LIMIT $4""",
        after[0] if after else None,
        after[1] if after else None,
        active_only,
        limit,
    )
    return [_reward(row) for row in rows]


async def perks_for(connection: asyncpg.Connection, trigger: str, trigger_tier: str = "") -> list[Reward]:
    rows = await connection.fetch(
        f"""SELECT {_REWARD_COLUMNS} FROM rewards r
             WHERE r.status = 'active' AND r.trigger = $1 AND r.trigger_tier = $2
             ORDER BY r.created_at, r.reward_id""",
        trigger,
        trigger_tier,
    )
    return [_reward(row) for row in rows]


async def take_stock(connection: asyncpg.Connection, reward_id: str) -> bool:
    """Take one unit; False when none is left. Unlimited stock always has one."""
    taken = await connection.fetchval(
        """UPDATE rewards SET stock_issued = stock_issued + 1
            WHERE reward_id = $1 AND (stock_total IS NULL OR stock_issued < stock_total)
           RETURNING true""",
        uuid.UUID(reward_id),
    )
    return bool(taken)


async def return_stock(connection: asyncpg.Connection, reward_id: str) -> None:
    await connection.execute(
        "UPDATE rewards SET stock_issued = stock_issued - 1 WHERE reward_id = $1",
        uuid.UUID(reward_id),
    )


async def ladder(connection: asyncpg.Connection) -> list[str]:
    return [row["tier"] for row in await connection.fetch("SELECT tier FROM tier_ladder ORDER BY rank")]


async def hold_ladder(connection: asyncpg.Connection, *, to_replace: bool) -> None:
    """Until the transaction ends: writers of rewards keep the ladder their tiers were checked against, and a
    replacement waits for them and for another replacement (two at once each filled the ladder the other emptied)."""
    mode = "SHARE ROW EXCLUSIVE" if to_replace else "SHARE"
    await connection.execute(f"LOCK TABLE tier_ladder IN {mode} MODE")


async def replace_ladder(connection: asyncpg.Connection, tiers: Sequence[str]) -> None:
    await connection.execute("DELETE FROM tier_ladder")
    await connection.execute(
        "INSERT INTO tier_ladder (tier, rank) SELECT * FROM unnest($1::text[], $2::int[])",
        list(tiers),
        list(range(len(tiers))),
    )


async def min_tiers_outside(connection: asyncpg.Connection, tiers: Sequence[str]) -> list[str]:
    """Minimum tiers of rewards that are not among `tiers`."""
    rows = await connection.fetch(
        """SELECT DISTINCT min_tier FROM rewards
            WHERE min_tier <> '' AND NOT (min_tier = ANY($1::text[])) ORDER BY min_tier""",
        list(tiers),
    )
    return [row["min_tier"] for row in rows]


async def add_partner_codes(connection: asyncpg.Connection, reward_id: str, codes: Sequence[str]) -> int:
    """Add codes to a reward's pool in one statement; returns how many were new."""
    added = await connection.fetchval(
        """WITH added AS (
               INSERT INTO codes (code, source, reward_id, status, max_uses)
               SELECT code, 'partner', $1, 'available', 1 FROM unnest($2::text[]) AS code
               ON CONFLICT (code) DO NOTHING
               RETURNING 1)
           SELECT count(*) FROM added""",
        uuid.UUID(reward_id),
        list(codes),
    )
    return int(added)


async def member_tier(connection: asyncpg.Connection, member_id: str) -> str | None:
    tier = await connection.fetchval("SELECT tier FROM member_tiers WHERE member_id = $1", member_id)
    return None if tier is None else str(tier)
