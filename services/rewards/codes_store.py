"""SQL for codes: issuing them with redemptions, using them, and promo campaigns."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.rewards import catalog_store, codes
from services.rewards.catalog_store import value_of
from services.rewards.codes import CodeRow
from services.rewards.domain import Reward, Value


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    value: Value
    code_count: int
    uses_per_code: int
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime


class NothingLeft(Exception):
    """No unit of stock or partner code left; raised inside the transaction so that it rolls back."""


async def issue_unit(connection: asyncpg.Connection, reward: Reward, redemption_id: uuid.UUID, now: datetime) -> str:
    """Take a unit of the reward's stock and issue the redemption's code; NothingLeft when out of stock."""
    if not await catalog_store.take_stock(connection, reward.reward_id):
        raise NothingLeft
    expires_at = now + reward.spec.code_validity
    if reward.spec.code_source != "partner_pool":
        return await issue_generated(connection, reward.reward_id, redemption_id, expires_at)
    code = await issue_from_pool(connection, reward.reward_id, redemption_id, expires_at)
    if code is None:
        raise NothingLeft
    return code


async def issue_generated(
    connection: asyncpg.Connection, reward_id: str, redemption_id: uuid.UUID, expires_at: datetime
) -> str:
    while True:  # a collision of 59-bit random codes is near impossible; draw again if it happens
        code = codes.new_code()
        inserted = await connection.fetchval(
            """INSERT INTO codes (code, source, reward_id, redemption_id, status, max_uses, expires_at)
               VALUES ($1, 'generated', $2, $3, 'active', 1, $4)
               ON CONFLICT (code) DO NOTHING RETURNING true""",
            code,
            uuid.UUID(reward_id),
            redemption_id,
            expires_at,
        )
        if inserted:
            return code


async def issue_from_pool(
    connection: asyncpg.Connection, reward_id: str, redemption_id: uuid.UUID, expires_at: datetime
) -> str | None:
    """The next unissued partner code of the reward, bound to the redemption; None when the pool is empty."""
    code = await connection.fetchval(
        """UPDATE codes SET redemption_id = $2, status = 'active', expires_at = $3
            WHERE code = (SELECT code FROM codes WHERE reward_id = $1 AND status = 'available'
                           ORDER BY code LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING code""",
        uuid.UUID(reward_id),
        redemption_id,
        expires_at,
    )
    return None if code is None else str(code)


async def withdraw(connection: asyncpg.Connection, redemption_id: uuid.UUID) -> None:
    """Undo issuing: a generated code disappears, a partner code goes back to its pool."""
    await connection.execute(
        "DELETE FROM codes WHERE redemption_id = $1 AND source = 'generated'",
        redemption_id,
    )
    await connection.execute(
        """UPDATE codes SET redemption_id = NULL, status = 'available', expires_at = NULL
            WHERE redemption_id = $1 AND source = 'partner'""",
        redemption_id,
    )


async def void_unused(connection: asyncpg.Connection, redemption_id: uuid.UUID) -> bool:
    """Void the redemption's code if it was never used; False if it was."""
    voided = await connection.fetchval(
        "UPDATE codes SET status = 'void' WHERE redemption_id = $1 AND uses = 0 RETURNING true",
        redemption_id,
    )
    return bool(voided)


async def reactivate(connection: asyncpg.Connection, redemption_id: uuid.UUID) -> None:
    """Make the code `void_unused` voided usable again (a cancellation taken back); it was never used."""
    await connection.execute(
        "UPDATE codes SET status = 'active' WHERE redemption_id = $1 AND status = 'void'", redemption_id
    )


async def get(connection: asyncpg.Connection, code: str, *, lock: bool = False) -> CodeRow | None:
    """The code with its value: a redemption's as issued (editing the reward later does not change it; its reward's
    for one the version before migration 006 wrote during a deploy), or a promo campaign's."""
    record = await connection.fetchrow(
        f"""SELECT c.code, c.source, c.status, c.max_uses, c.uses, c.redemption_id, c.campaign_id,
                   coalesce(r.kind, w.kind, p.kind) AS kind,
                   coalesce(r.amount_minor, w.amount_minor, p.amount_minor) AS amount_minor,
                   coalesce(r.currency_code, w.currency_code, p.currency_code) AS currency_code,
                   coalesce(r.percent_off, w.percent_off, p.percent_off) AS percent_off,
                   coalesce(r.sku, w.sku, p.sku) AS sku, coalesce(r.partner, w.partner, p.partner) AS partner,
                   coalesce(r.reward_name, w.name, p.name) AS name,
                   coalesce(p.valid_until, c.expires_at) AS expires_at, p.valid_from,
                   coalesce(r.member_id, '') AS member_id, r.step
              FROM codes c
              LEFT JOIN rewards w ON w.reward_id = c.reward_id
              LEFT JOIN promo_campaigns p ON p.campaign_id = c.campaign_id
              LEFT JOIN redemptions r ON r.redemption_id = c.redemption_id
             WHERE c.code = $1{" FOR UPDATE OF c" if lock else ""}""",
        code,
    )
    if record is None:
        return None
    return CodeRow(
        code=record["code"],
        source=record["source"],
        status=record["status"],
        max_uses=record["max_uses"],
        uses=record["uses"],
        valid_from=record["valid_from"],
        expires_at=record["expires_at"],
        value=value_of(record),
        name=record["name"],
        member_id=record["member_id"],
        redemption_id="" if record["redemption_id"] is None else str(record["redemption_id"]),
        campaign_id="" if record["campaign_id"] is None else str(record["campaign_id"]),
        redemption_step=None if record["step"] in (None, "completed") else record["step"],
    )


async def use_of(connection: asyncpg.Connection, code: str, order_id: str) -> datetime | None:
    """When `order_id` used `code`, or None."""
    used_at = await connection.fetchval(
        "SELECT used_at FROM code_uses WHERE code = $1 AND order_id = $2", code, order_id
    )
    return used_at if isinstance(used_at, datetime) else None


async def orders_of(connection: asyncpg.Connection, code: str) -> list[str]:
    records = await connection.fetch("SELECT order_id FROM code_uses WHERE code = $1 ORDER BY used_at", code)
    return [record["order_id"] for record in records]


async def record_use(connection: asyncpg.Connection, code: str, order_id: str, now: datetime) -> None:
    await connection.execute("INSERT INTO code_uses (code, order_id, used_at) VALUES ($1, $2, $3)", code, order_id, now)
    await connection.execute("UPDATE codes SET uses = uses + 1 WHERE code = $1", code)


_CAMPAIGN_COLUMNS = f"""campaign_id, name, {catalog_store.VALUE_COLUMNS},
                       code_count, uses_per_code, valid_from, valid_until, created_at"""


def _campaign(record: asyncpg.Record) -> Campaign:
    return Campaign(
        campaign_id=str(record["campaign_id"]),
        name=record["name"],
        value=value_of(record),
        code_count=record["code_count"],
        uses_per_code=record["uses_per_code"],
        valid_from=record["valid_from"],
        valid_until=record["valid_until"],
        created_at=record["created_at"],
    )


async def campaign_by_key(connection: asyncpg.Connection, idempotency_key: str) -> Campaign | None:
    record = await connection.fetchrow(
        f"SELECT {_CAMPAIGN_COLUMNS} FROM promo_campaigns WHERE idempotency_key = $1", idempotency_key
    )
    return None if record is None else _campaign(record)


async def campaign_exists(connection: asyncpg.Connection, campaign_id: uuid.UUID) -> bool:
    return bool(await connection.fetchval("SELECT true FROM promo_campaigns WHERE campaign_id = $1", campaign_id))


async def insert_campaign(connection: asyncpg.Connection, campaign: Campaign, idempotency_key: str) -> None:
    await connection.execute(
        f"""INSERT INTO promo_campaigns ({_CAMPAIGN_COLUMNS}, idempotency_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        uuid.UUID(campaign.campaign_id),
        campaign.name,
        *catalog_store.value_arguments(campaign.value),
        campaign.code_count,
        campaign.uses_per_code,
        campaign.valid_from,
        campaign.valid_until,
        campaign.created_at,
        idempotency_key,
    )


async def insert_promo_codes(
    connection: asyncpg.Connection, campaign_id: str, uses_per_code: int, batch: Sequence[str]
) -> int:
    """Insert a batch of codes in one statement; returns how many were new (collisions are skipped)."""
    inserted = await connection.fetchval(
        """WITH inserted AS (
               INSERT INTO codes (code, source, campaign_id, status, max_uses)
               SELECT code, 'promo', $1, 'active', $2 FROM unnest($3::text[]) AS code
               ON CONFLICT (code) DO NOTHING
               RETURNING 1)
           SELECT count(*) FROM inserted""",
        uuid.UUID(campaign_id),
        uses_per_code,
        list(batch),
    )
    return int(inserted)


async def promo_codes(connection: asyncpg.Connection, campaign_id: uuid.UUID, after: str, limit: int) -> list[str]:
    records = await connection.fetch(
        """SELECT code FROM codes WHERE campaign_id = $1 AND code > $2 ORDER BY code LIMIT $3""",
        campaign_id,
        after,
        limit,
    )
    return [record["code"] for record in records]
