"""SQL for partner accrual batches: set-based, a handful of statements per batch whatever its size."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.ids import new_ids
from services.common.metrics import count_ledger_entries
from services.points.partner_accrual import Decision


@dataclass(frozen=True)
class AcceptedRow:
    """An accepted accrual to write: the accrual, and when it earned points its entry and lot."""

    partner_transaction_id: str
    member_id: str
    points: int
    # None when it converted to no whole point (no entry, no lot).
    entry_id: uuid.UUID | None
    description: str
    breakdown: str
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None


async def accepted_before(
    connection: asyncpg.Connection, partner_id: str, transaction_ids: list[str]
) -> dict[str, int]:
    """Transaction id -> points, for the ids the partner already had accepted."""
    # Planned for the table as it is now: a generic plan cached while partner_accruals was small would
    # keep scanning it whole once it holds millions of rows. Only this statement: re-planning the
    # triggers and foreign-key checks of the batch inserts too would cost more than it saves.
    await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    records = await connection.fetch(
        """SELECT partner_transaction_id, points FROM partner_accruals
            WHERE partner_id = $1 AND partner_transaction_id = ANY($2::text[])""",
        partner_id,
        transaction_ids,
    )
    await connection.execute("SET LOCAL plan_cache_mode = auto")
    return {r["partner_transaction_id"]: r["points"] for r in records}


async def find_accepted(
    connection: asyncpg.Connection, partner_id: str, transaction_id: str
) -> tuple[str, int, uuid.UUID | None] | None:
    """(member, points, entry) of an accepted accrual, or None."""
    record = await connection.fetchrow(
        """SELECT member_id, points, entry_id FROM partner_accruals
            WHERE partner_id = $1 AND partner_transaction_id = $2""",
        partner_id,
        transaction_id,
    )
    return (record["member_id"], record["points"], record["entry_id"]) if record else None


async def insert_accepted(connection: asyncpg.Connection, partner_id: str, rows: Sequence[AcceptedRow]) -> set[str]:
    """Write accruals, entries and lots in one statement; returns the transaction ids written.

    An id accepted concurrently by another transaction is skipped, with its entry and lot.
    """
    if not rows:
        return set()
    records = await connection.fetch(
        """WITH input AS (
               SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::uuid[], $6::text[], $7::jsonb[],
                                    $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::uuid[])
                   AS t(tx, member_id, points, entry_id, description, breakdown, earned_at, available_at, expires_at,
                        lot_id)),
           accrual AS (
               INSERT INTO partner_accruals (partner_id, partner_transaction_id, member_id, points, entry_id)
               SELECT $1, tx, member_id, points, entry_id FROM input
               ON CONFLICT DO NOTHING
               RETURNING partner_transaction_id),
           entry AS (
               INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown,
                                           qualifies_at)
               SELECT i.entry_id, i.member_id, 'partner_earn', i.points, 'partner:' || $1 || ':' || i.tx,
                      i.description, i.breakdown, i.earned_at
                 FROM input i JOIN accrual a ON a.partner_transaction_id = i.tx
                WHERE i.entry_id IS NOT NULL
               RETURNING entry_id),
           lot AS (
               INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
               SELECT i.lot_id, i.member_id, i.entry_id, i.points, i.points, i.earned_at, i.available_at,
                      i.expires_at
                 FROM input i JOIN entry e ON e.entry_id = i.entry_id)
           SELECT partner_transaction_id FROM accrual""",
        partner_id,
        [r.partner_transaction_id for r in rows],
        [r.member_id for r in rows],
        [r.points for r in rows],
        [r.entry_id for r in rows],
        [r.description for r in rows],
        [r.breakdown for r in rows],
        [r.earned_at for r in rows],
        [r.available_at for r in rows],
        [r.expires_at for r in rows],
        new_ids(len(rows)),
    )
    written = {r["partner_transaction_id"] for r in records}
    count_ledger_entries(
        "partner_earn", sum(1 for row in rows if row.entry_id is not None and row.partner_transaction_id in written)
    )
    return written


async def insert_results(
    connection: asyncpg.Connection,
    partner_id: str,
    decisions: Sequence[Decision],
    units: Sequence[str],
    kafka_messages: Sequence[str] | None = None,
) -> None:
    """Log every answer, for the partner's daily control totals, with the unit its record named (as sent) and the
    Kafka message answered (if any)."""
    await connection.execute(
        """INSERT INTO partner_accrual_results (partner_id, partner_transaction_id, status, amount, unit, points,
                                                kafka_message)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::bigint[], $7::text[])
           ON CONFLICT (kafka_message) WHERE kafka_message IS NOT NULL DO NOTHING""",
        partner_id,
        # An invalid id or unit is logged as far as Postgres text can hold it.
        [d.partner_transaction_id[:128].replace("\x00", "") for d in decisions],
        [d.status.value for d in decisions],
        [d.amount for d in decisions],
        [unit[:16].replace("\x00", "") for unit in units],
        [d.points for d in decisions],
        list(kafka_messages) if kafka_messages is not None else [None] * len(decisions),
    )


async def answered_messages(connection: asyncpg.Connection, kafka_messages: Sequence[str]) -> dict[str, str]:
    """Those of the Kafka messages already answered (read again, not sent again), with the status answered."""
    records = await connection.fetch(
        "SELECT kafka_message, status FROM partner_accrual_results WHERE kafka_message = ANY($1::text[])",
        list(kafka_messages),
    )
    return {record["kafka_message"]: record["status"] for record in records}


@dataclass(frozen=True)
class AccrualToCancel:
    member_id: str
    points: int
    entry_id: uuid.UUID | None
    # When the activity happened (the tier window it counted in); when accepted, for one that earned nothing.
    qualifies_at: datetime


@dataclass(frozen=True)
class CancellationRow:
    partner_transaction_id: str
    member_id: str
    points_reversed: int
    points_owed: int
    points_overdrawn: int
    points_expired: int
    entry_id: uuid.UUID | None
    cancelled_at: datetime


async def accrual_to_cancel(
    connection: asyncpg.Connection, partner_id: str, transaction_id: str
) -> AccrualToCancel | None:
    record = await connection.fetchrow(
        """SELECT a.member_id, a.points, a.entry_id, coalesce(e.qualifies_at, a.accepted_at) AS qualifies_at
             FROM partner_accruals a LEFT JOIN ledger_entries e ON e.entry_id = a.entry_id
            WHERE a.partner_id = $1 AND a.partner_transaction_id = $2""",
        partner_id,
        transaction_id,
    )
    return AccrualToCancel(**record) if record else None


_CANCELLATION_COLUMNS = """partner_transaction_id, member_id, points_reversed, points_owed, points_overdrawn,
                           points_expired, entry_id, cancelled_at"""


async def find_cancellation(
    connection: asyncpg.Connection, partner_id: str, transaction_id: str
) -> CancellationRow | None:
    record = await connection.fetchrow(
        f"""SELECT {_CANCELLATION_COLUMNS} FROM partner_cancellations
             WHERE partner_id = $1 AND partner_transaction_id = $2""",
        partner_id,
        transaction_id,
    )
    return CancellationRow(**record) if record else None


async def insert_cancellation(
    connection: asyncpg.Connection, partner_id: str, reason: str, accrual: AccrualToCancel, row: CancellationRow
) -> None:
    await connection.execute(
        """INSERT INTO partner_cancellations (partner_id, partner_transaction_id, member_id, reason, points_reversed,
                                              points_owed, points_overdrawn, points_expired, entry_id, qualifies_at,
                                              cancelled_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        partner_id,
        row.partner_transaction_id,
        row.member_id,
        reason,
        row.points_reversed,
        row.points_owed,
        row.points_overdrawn,
        row.points_expired,
        row.entry_id,
        accrual.qualifies_at,
        row.cancelled_at,
    )
