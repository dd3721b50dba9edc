"""SQL for redemptions and their steps (see migration 002 for the life of a redemption).

Every step change is conditional on the step it leaves, so two workers
advancing the same redemption (a call and the recovery job) never both move it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.rewards.catalog_store import VALUE_COLUMNS, value_arguments
from services.rewards.domain import Value


@dataclass(frozen=True)
class RedemptionRow:
    redemption_id: str
    member_id: str
    reward_id: str
    idempotency_key: str | None
    occasion: str
    points: int
    step: str
    hold_id: str | None
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    code: str | None
    code_expires_at: datetime | None
    code_used_at: datetime | None
    code_used_by_order_id: str | None
    # The reward's name when redeemed, for the member's messages; empty for redemptions from before names were kept.
    reward_name: str = ""


_SELECT = """
    SELECT r.redemption_id, r.member_id, r.reward_id, r.idempotency_key, r.occasion, r.points, r.step, r.hold_id,
           r.created_at, r.completed_at, r.cancelled_at, r.cancel_reason, c.code, c.expires_at AS code_expires_at,
           u.used_at AS code_used_at, u.order_id AS code_used_by_order_id, coalesce(r.reward_name, '') AS reward_name
      FROM redemptions r
      LEFT JOIN codes c ON c.redemption_id = r.redemption_id
      LEFT JOIN LATERAL (SELECT used_at, order_id FROM code_uses cu WHERE cu.code = c.code
                          ORDER BY used_at DESC LIMIT 1) u ON true"""


def _row(record: asyncpg.Record) -> RedemptionRow:
    return RedemptionRow(
        redemption_id=str(record["redemption_id"]),
        member_id=record["member_id"],
        reward_id=str(record["reward_id"]),
        idempotency_key=record["idempotency_key"],
        occasion=record["occasion"],
        points=record["points"],
        step=record["step"],
        hold_id=None if record["hold_id"] is None else str(record["hold_id"]),
        created_at=record["created_at"],
        completed_at=record["completed_at"],
        cancelled_at=record["cancelled_at"],
        cancel_reason=record["cancel_reason"],
        code=record["code"],
        code_expires_at=record["code_expires_at"],
        code_used_at=record["code_used_at"],
        code_used_by_order_id=record["code_used_by_order_id"],
        reward_name=record["reward_name"],
    )


async def get(connection: asyncpg.Connection, redemption_id: uuid.UUID) -> RedemptionRow | None:
    record = await connection.fetchrow(f"{_SELECT} WHERE r.redemption_id = $1", redemption_id)
    return None if record is None else _row(record)


async def state(
    connection: asyncpg.Connection, redemption_id: uuid.UUID, *, lock: bool = False
) -> tuple[str, str | None] | None:
    """The redemption's step and hold id (the row locked for the transaction when `lock`); None if there is none."""
    record = await connection.fetchrow(
        f"SELECT step, hold_id FROM redemptions WHERE redemption_id = $1{' FOR UPDATE' if lock else ''}", redemption_id
    )
    if record is None:
        return None
    return str(record["step"]), None if record["hold_id"] is None else str(record["hold_id"])


async def find_by_key(connection: asyncpg.Connection, idempotency_key: str) -> RedemptionRow | None:
    record = await connection.fetchrow(f"{_SELECT} WHERE r.idempotency_key = $1", idempotency_key)
    return None if record is None else _row(record)


async def list_for_member(
    connection: asyncpg.Connection, member_id: str, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[RedemptionRow]:
    records = await connection.fetch(
        f"""{_SELECT}
             WHERE r.member_id = $1
               AND ($2::timestamptz IS NULL OR (r.created_at, r.redemption_id) < ($2, $3::uuid))
             ORDER BY r.created_at DESC, r.redemption_id DESC
             LIMIT $4""",
        member_id,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return [_row(record) for record in records]


async def redeemed_since(
    connection: asyncpg.Connection, member_id: str, since: datetime | None, reward_id: str | None = None
) -> Counter[str]:
    """Redemptions (not cancelled) per reward made by the member since `since` (None: ever)."""
    records = await connection.fetch(
        """SELECT reward_id, count(*) AS n FROM redemptions
            WHERE member_id = $1 AND occasion = 'redeemed' AND step NOT IN ('cancelling', 'cancelled')
              AND ($2::timestamptz IS NULL OR created_at >= $2)
              AND ($3::uuid IS NULL OR reward_id = $3)
            GROUP BY reward_id""",
        member_id,
        since,
        None if reward_id is None else uuid.UUID(reward_id),
    )
    return Counter({str(record["reward_id"]): record["n"] for record in records})


# What the redemption's code is worth, kept as the reward was when redeemed or granted (migration 006).
_VALUE_COLUMNS = f"reward_name, {VALUE_COLUMNS}"


async def insert_pending(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    reward_id: str,
    reward_name: str,
    value: Value,
    idempotency_key: str,
    points: int,
    now: datetime,
    lease_until: datetime,
) -> uuid.UUID:
    """A redemption of the reward as it is now (`reward_name`, `value`): its code keeps them whatever the reward
    becomes."""
    redemption_id = uuid.uuid4()
    await connection.execute(
        f"""INSERT INTO redemptions (redemption_id, member_id, reward_id, idempotency_key, occasion, points, step,
                                     lease_until, created_at, {_VALUE_COLUMNS})
            VALUES ($1, $2, $3, $4, 'redeemed', $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        redemption_id,
        member_id,
        uuid.UUID(reward_id),
        idempotency_key,
        points,
        lease_until,
        now,
        reward_name,
        *value_arguments(value),
    )
    return redemption_id


async def insert_granted(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    reward_id: str,
    reward_name: str,
    value: Value,
    occasion: str,
    grant_key: str,
    now: datetime,
) -> uuid.UUID | None:
    """A perk of the reward as it is now, completed at once; None when this member already has it for
    `grant_key`."""
    inserted = await connection.fetchval(
        f"""INSERT INTO redemptions (redemption_id, member_id, reward_id, grant_key, occasion, points, step,
                                     lease_until, created_at, completed_at, {_VALUE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, 0, 'completed', $6, $6, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (member_id, reward_id, grant_key) DO NOTHING
            RETURNING redemption_id""",
        uuid.uuid4(),
        member_id,
        uuid.UUID(reward_id),
        grant_key,
        occasion,
        now,
        reward_name,
        *value_arguments(value),
    )
    return inserted if isinstance(inserted, uuid.UUID) else None


async def move(
    connection: asyncpg.Connection, redemption_id: uuid.UUID, from_step: str, to_step: str, **columns: object
) -> bool:
    """Move from `from_step` to `to_step`, setting `columns` too; False if it was not at `from_step`."""
    names = list(columns)
    assignments = "".join(f", {name} = ${index}" for index, name in enumerate(names, start=4))
    moved = await connection.fetchval(
        f"""UPDATE redemptions SET step = $3{assignments}
             WHERE redemption_id = $1 AND step = $2 RETURNING true""",
        redemption_id,
        from_step,
        to_step,
        *columns.values(),
    )
    return bool(moved)


async def delete(connection: asyncpg.Connection, redemption_id: uuid.UUID) -> None:
    await connection.execute("DELETE FROM redemptions WHERE redemption_id = $1", redemption_id)


async def claim_if_stale(
    connection: asyncpg.Connection, redemption_id: uuid.UUID, now: datetime, lease_until: datetime
) -> bool:
    """Lease one unfinished redemption to the caller until `lease_until` if no call holds it any more."""
    return bool(
        await connection.fetchval(
            """UPDATE redemptions SET lease_until = $3
                WHERE redemption_id = $1 AND step IN ('pending', 'held', 'reserved', 'cancelling')
                  AND lease_until < $2
               RETURNING true""",
            redemption_id,
            now,
            lease_until,
        )
    )


async def give_up_lease(
    connection: asyncpg.Connection, redemption_id: uuid.UUID, leased_until: datetime, now: datetime
) -> None:
    """The call that leased the redemption until `leased_until` stops: a retry, or the recovery job, may take it
    over at once. A lease that expiry no longer marks is another's (a retry or the recovery job took it over once
    this one ran out) and stays."""
    await connection.execute(
        "UPDATE redemptions SET lease_until = $3 WHERE redemption_id = $1 AND lease_until = $2",
        redemption_id,
        leased_until,
        now,
    )


async def claim_stale(connection: asyncpg.Connection, now: datetime, lease: timedelta, limit: int) -> list[uuid.UUID]:
    """Unfinished redemptions whose lease ran out, leased to the caller now."""
    records = await connection.fetch(
        """UPDATE redemptions SET lease_until = $1::timestamptz + $2::interval
            WHERE redemption_id IN (
                  SELECT redemption_id FROM redemptions
                   WHERE step IN ('pending', 'held', 'reserved', 'cancelling') AND lease_until < $1
                   ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING redemption_id""",
        now,
        lease,
        limit,
    )
    return [record["redemption_id"] for record in records]
