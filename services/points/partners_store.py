"""SQL for partners: registration, conversion rates, hashed API keys and the daily control totals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.points.partner_accrual import Rate
from services.points.program import Rounding


@dataclass(frozen=True)
class PartnerRow:
    partner_id: str
    name: str
    kind: str
    created_at: datetime


@dataclass(frozen=True)
class ControlTotal:
    status: str
    # The unit of the amounts ('' for answers logged before units were).
    unit: str
    records: int
    amount: Decimal
    points: int


async def insert_partner(connection: asyncpg.Connection, partner_id: str, name: str, kind: str) -> PartnerRow | None:
    """The new partner, or None when the id is taken."""
    record = await connection.fetchrow(
        """INSERT INTO partners (partner_id, name, kind) VALUES ($1, $2, $3)
           ON CONFLICT (partner_id) DO NOTHING
           RETURNING partner_id, name, kind, created_at""",
        partner_id,
        name,
        kind,
    )
    return PartnerRow(**record) if record else None


async def get_partner(connection: asyncpg.Connection, partner_id: str) -> PartnerRow | None:
    record = await connection.fetchrow(
        "SELECT partner_id, name, kind, created_at FROM partners WHERE partner_id = $1", partner_id
    )
    return PartnerRow(**record) if record else None


async def rates(connection: asyncpg.Connection, partner_id: str) -> list[Rate]:
    records = await connection.fetch(
        """SELECT unit, points_per_unit, rounding, effective_from FROM partner_rates
            WHERE partner_id = $1 ORDER BY unit, effective_from""",
        partner_id,
    )
    return [Rate(r["unit"], r["points_per_unit"], Rounding(r["rounding"]), r["effective_from"]) for r in records]


async def lock_partner(connection: asyncpg.Connection, partner_id: str) -> None:
    """Until the transaction ends: two rates set at once would each miss the other and could land out of order.

    NO KEY UPDATE leaves the intake's foreign-key checks on the partner (KEY SHARE) unblocked."""
    await connection.execute("SELECT 1 FROM partners WHERE partner_id = $1 FOR NO KEY UPDATE", partner_id)


async def latest_rate_start(connection: asyncpg.Connection, partner_id: str, unit: str) -> datetime | None:
    """When the unit's latest rate takes effect; None when it has none."""
    start: datetime | None = await connection.fetchval(
        "SELECT max(effective_from) FROM partner_rates WHERE partner_id = $1 AND unit = $2", partner_id, unit
    )
    return start


async def insert_rate(connection: asyncpg.Connection, partner_id: str, rate: Rate) -> bool:
    """False when the unit already has a rate from that time."""
    inserted = await connection.fetchval(
        """INSERT INTO partner_rates (partner_id, unit, points_per_unit, rounding, effective_from)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING true""",
        partner_id,
        rate.unit,
        rate.points_per_unit,
        rate.rounding.value,
        rate.effective_from,
    )
    return bool(inserted)


async def insert_credential(connection: asyncpg.Connection, partner_id: str, key_hash: bytes) -> uuid.UUID:
    credential_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO partner_credentials (credential_id, partner_id, key_hash) VALUES ($1, $2, $3)",
        credential_id,
        partner_id,
        key_hash,
    )
    return credential_id


async def revoke_credential(
    connection: asyncpg.Connection, partner_id: str, credential_id: uuid.UUID
) -> datetime | None:
    """When the key was revoked (now, or earlier if it already was); None when the partner has no such key."""
    revoked: datetime | None = await connection.fetchval(
        """UPDATE partner_credentials SET revoked_at = coalesce(revoked_at, now())
            WHERE credential_id = $1 AND partner_id = $2
        RETURNING revoked_at""",
        credential_id,
        partner_id,
    )
    return revoked


async def partner_of_key(connection: asyncpg.Connection, key_hash: bytes) -> str | None:
    """The partner an unrevoked key belongs to."""
    partner: str | None = await connection.fetchval(
        "SELECT partner_id FROM partner_credentials WHERE key_hash = $1 AND revoked_at IS NULL", key_hash
    )
    return partner


async def control_totals(
    connection: asyncpg.Connection,
    partner_id: str,
    start: datetime,
    end: datetime,
    *,
    after: tuple[str, str] | None,
    limit: int,
) -> list[ControlTotal]:
    """Up to `limit` lines of the records received in [start, end), by status and unit, after `after` in that
    order (None: from the first)."""
    records = await connection.fetch(
        """SELECT status, unit, count(*) AS records, coalesce(sum(amount), 0) AS amount,
                  coalesce(sum(points), 0)::bigint AS points
             FROM partner_accrual_results
            WHERE partner_id = $1 AND received_at >= $2 AND received_at < $3
              AND ($4::text IS NULL OR (status, unit) > ($4, $5))
            GROUP BY status, unit ORDER BY status, unit LIMIT $6""",
        partner_id,
        start,
        end,
        *(after or (None, None)),
        limit,
    )
    return [ControlTotal(**r) for r in records]
