"""SQL for lots, the draws debits make on them, and holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.ids import new_id
from services.points import store
from services.points.ledger import Draw, Lot


@dataclass(frozen=True)
class HoldRow:
    hold_id: uuid.UUID
    member_id: str
    points: int
    idempotency_key: str
    description: str
    status: str
    created_at: datetime
    expires_at: datetime
    capture_entry_id: uuid.UUID | None


_HOLD_COLUMNS = (
    "hold_id, member_id, points, idempotency_key, description, status, created_at, expires_at, capture_entry_id"
)


async def insert_lot(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    entry_id: uuid.UUID,
    points: int,
    earned_at: datetime,
    available_at: datetime,
    expires_at: datetime | None,
) -> None:
    await connection.execute(
        """INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7)""",
        new_id(),
        member_id,
        entry_id,
        points,
        earned_at,
        available_at,
        expires_at,
    )


async def insert_credit(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    kind: str,
    points: int,
    idempotency_key: str,
    description: str,
    earned_at: datetime,
    expires_at: datetime | None,
    breakdown: str = "[]",
    available_at: datetime | None = None,
) -> store.EntryRow:
    """A positive entry and the lot holding its points, spendable at once or pending until `available_at`."""
    entry = await store.insert_entry(
        connection,
        member_id=member_id,
        kind=kind,
        points=points,
        idempotency_key=idempotency_key,
        description=description,
        breakdown=breakdown,
    )
    await insert_lot(
        connection,
        member_id=member_id,
        entry_id=entry.entry_id,
        points=points,
        earned_at=earned_at,
        available_at=max(entry.created_at, available_at or entry.created_at),
        expires_at=expires_at,
    )
    return entry


async def open_lots(connection: asyncpg.Connection, member_id: str) -> list[Lot]:
    records = await connection.fetch(
        """SELECT lot_id, remaining, earned_at, available_at, expires_at FROM lots
            WHERE member_id = $1 AND remaining > 0""",
        member_id,
    )
    return [Lot(**r) for r in records]


async def held_points(connection: asyncpg.Connection, member_id: str, now: datetime) -> int:
    held = await connection.fetchval(
        "SELECT coalesce(sum(points), 0) FROM holds WHERE member_id = $1 AND status = 'held' AND expires_at > $2",
        member_id,
        now,
    )
    return int(held)


async def apply_draws(connection: asyncpg.Connection, entry_id: uuid.UUID, draws: Sequence[Draw]) -> None:
    """Take the drawn points off their lots and record what the entry drew, in two set-based statements."""
    lot_ids = [d.lot_id for d in draws]
    points = [d.points for d in draws]
    await connection.execute(
        """UPDATE lots SET remaining = remaining - d.points
             FROM unnest($1::uuid[], $2::bigint[]) AS d(lot_id, points)
            WHERE lots.lot_id = d.lot_id""",
        lot_ids,
        points,
    )
    await connection.execute(
        """INSERT INTO lot_draws (entry_id, lot_id, points)
           SELECT $1, lot_id, points FROM unnest($2::uuid[], $3::bigint[]) AS d(lot_id, points)""",
        entry_id,
        lot_ids,
        points,
    )


async def insert_hold(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    points: int,
    idempotency_key: str,
    description: str,
    now: datetime,
    expires_at: datetime,
) -> HoldRow:
    record = await connection.fetchrow(
        f"""INSERT INTO holds (hold_id, member_id, points, idempotency_key, description, status,
                               created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, 'held', $6, $7)
            RETURNING {_HOLD_COLUMNS}""",
        uuid.uuid4(),
        member_id,
        points,
        idempotency_key,
        description,
        now,
        expires_at,
    )
    return HoldRow(**record)


async def find_hold_by_key(connection: asyncpg.Connection, idempotency_key: str) -> HoldRow | None:
    record = await connection.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE idempotency_key = $1", idempotency_key)
    return HoldRow(**record) if record else None


async def get_hold(connection: asyncpg.Connection, hold_id: uuid.UUID) -> HoldRow | None:
    record = await connection.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE hold_id = $1", hold_id)
    return HoldRow(**record) if record else None


async def settle_hold(
    connection: asyncpg.Connection, hold_id: uuid.UUID, status: str, now: datetime, entry_id: uuid.UUID | None = None
) -> HoldRow:
    record = await connection.fetchrow(
        f"""UPDATE holds SET status = $2, settled_at = $3, capture_entry_id = $4
             WHERE hold_id = $1 RETURNING {_HOLD_COLUMNS}""",
        hold_id,
        status,
        now,
        entry_id,
    )
    return HoldRow(**record)
