"""SQL for the points service: members, ledger entries and purchases."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

import asyncpg

from services.common.metrics import LEDGER_ENTRIES
from services.points.domain import Enrollment, Purchase


@dataclass(frozen=True)
class MemberRow:
    member_id: str
    email: str
    given_name: str
    family_name: str
    tier: str
    status: str
    enrolled_at: datetime
    balance: int
    lifetime_earned: int
    points_owed: int
    points_overdrawn: int = 0
    birth_date: date | None = None
    referrer_member_id: str | None = None


@dataclass(frozen=True)
class EntryRow:
    seq: int
    entry_id: uuid.UUID
    member_id: str
    kind: str
    points: int
    idempotency_key: str
    description: str
    created_at: datetime
    # JSON list of {source, points, description}; empty for entries that are not earnings.
    breakdown: str = "[]"


@dataclass(frozen=True)
class PurchaseRow:
    purchase_id: str
    member_id: str
    points_earned: int
    entry_id: uuid.UUID | None


_MEMBER_COLUMNS = (
    "member_id, email, given_name, family_name, tier, status, enrolled_at, balance, lifetime_earned, points_owed,"
    " points_overdrawn, birth_date, referrer_member_id"
)
_ENTRY_COLUMNS = "seq, entry_id, member_id, kind, points, idempotency_key, description, created_at, breakdown"


async def insert_member(connection: asyncpg.Connection, enrollment: Enrollment, tier: str) -> MemberRow | None:
    """The new member, or None when the member id is taken."""
    record = await connection.fetchrow(
        f"""INSERT INTO members (member_id, email, given_name, family_name, tier, birth_date, referrer_member_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (member_id) DO NOTHING
            RETURNING {_MEMBER_COLUMNS}""",
        enrollment.member_id,
        enrollment.email,
        enrollment.given_name,
        enrollment.family_name,
        tier,
        enrollment.birth_day,
        enrollment.referrer_member_id or None,
    )
    return MemberRow(**record) if record else None


async def get_member(connection: asyncpg.Connection, member_id: str, *, lock: bool = False) -> MemberRow | None:
    # Locking the member row serialises every ledger write for that member, which
    # also makes outbox ids follow commit order per member.
    suffix = " FOR UPDATE" if lock else ""
    record = await connection.fetchrow(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE member_id = $1{suffix}", member_id)
    return MemberRow(**record) if record else None


async def lock_members(connection: asyncpg.Connection, member_ids: Sequence[str]) -> dict[str, MemberRow]:
    """Lock the members that exist among `member_ids`, in id order so concurrent batches cannot deadlock."""
    records = await connection.fetch(
        f"""SELECT {_MEMBER_COLUMNS} FROM members WHERE member_id = ANY($1::text[])
             ORDER BY member_id FOR UPDATE""",
        list(member_ids),
    )
    return {r["member_id"]: MemberRow(**r) for r in records}


async def insert_entry(
    connection: asyncpg.Connection,
    *,
    member_id: str,
    kind: str,
    points: int,
    idempotency_key: str,
    description: str,
    breakdown: str = "[]",
) -> EntryRow:
    record = await connection.fetchrow(
        f"""INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
            RETURNING {_ENTRY_COLUMNS}""",
        uuid.uuid4(),
        member_id,
        kind,
        points,
        idempotency_key,
        description,
        breakdown,
    )
    LEDGER_ENTRIES.labels(kind).inc()
    return EntryRow(**record)


async def count_bonuses(
    connection: asyncpg.Connection, member_id: str, source: str, start: datetime | None, end: datetime | None
) -> int:
    """The member's bonus entries whose breakdown source is `source`, earned in [start, end) (None: unbounded)."""
    count = await connection.fetchval(
        """SELECT count(*) FROM ledger_entries e JOIN lots l ON l.entry_id = e.entry_id
            WHERE e.member_id = $1 AND e.kind = 'bonus' AND e.breakdown -> 0 ->> 'source' = $2
              AND ($3::timestamptz IS NULL OR l.earned_at >= $3) AND ($4::timestamptz IS NULL OR l.earned_at < $4)""",
        member_id,
        source,
        start,
        end,
    )
    return int(count)


async def get_entry(connection: asyncpg.Connection, entry_id: uuid.UUID) -> EntryRow | None:
    record = await connection.fetchrow(f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries WHERE entry_id = $1", entry_id)
    return EntryRow(**record) if record else None


async def any_entry_with_key(connection: asyncpg.Connection, idempotency_keys: list[str]) -> bool:
    found = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key = ANY($1::text[]))", idempotency_keys
    )
    return bool(found)


async def find_entry_by_key(connection: asyncpg.Connection, idempotency_key: str) -> EntryRow | None:
    record = await connection.fetchrow(
        f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries WHERE idempotency_key = $1", idempotency_key
    )
    return EntryRow(**record) if record else None


async def list_entries(
    connection: asyncpg.Connection, member_id: str, *, before_seq: int | None, limit: int
) -> list[EntryRow]:
    records = await connection.fetch(
        f"""SELECT {_ENTRY_COLUMNS} FROM ledger_entries
             WHERE member_id = $1 AND ($2::bigint IS NULL OR seq < $2)
             ORDER BY seq DESC LIMIT $3""",
        member_id,
        before_seq,
        limit,
    )
    return [EntryRow(**r) for r in records]


async def member_and_purchase(
    connection: asyncpg.Connection, member_id: str, purchase_id: str
) -> tuple[MemberRow | None, PurchaseRow | None]:
    """Lock the member and look the purchase id up, in one round trip."""
    columns = ", ".join(f"m.{c.strip()}" for c in _MEMBER_COLUMNS.split(","))
    record = await connection.fetchrow(
        f"""SELECT {columns}, p.member_id AS purchase_member_id, p.points_earned, p.entry_id
              FROM members m LEFT JOIN purchases p ON p.purchase_id = $2
             WHERE m.member_id = $1
               FOR UPDATE OF m""",
        member_id,
        purchase_id,
    )
    if record is None:
        return None, None
    fields = dict(record)
    previous = None
    if fields["purchase_member_id"] is not None:
        previous = PurchaseRow(purchase_id, fields["purchase_member_id"], fields["points_earned"], fields["entry_id"])
    for extra in ("purchase_member_id", "points_earned", "entry_id"):
        del fields[extra]
    return MemberRow(**fields), previous


async def insert_purchase_earning(
    connection: asyncpg.Connection,
    purchase: Purchase,
    *,
    points: int,
    description: str,
    breakdown: str,
    earned_at: datetime,
    available_at: datetime,
    expires_at: datetime | None,
) -> tuple[bool, EntryRow | None]:
    """Record the purchase and, when it earned points, its entry and lot, in one statement.

    `breakdown` is the JSON list of how the points were earned. Returns whether the purchase was recorded (False: its id
    was recorded concurrently, and nothing was written) and the entry (None when it earned nothing).
    """
    record = await connection.fetchrow(
        f"""WITH entry AS (
                INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown)
                SELECT $1, $2, 'purchase_earn', $3::bigint, 'purchase:' || $4::text, $5, $13::jsonb
                 WHERE $3::bigint > 0
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING {_ENTRY_COLUMNS}),
            lot AS (
                INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
                SELECT gen_random_uuid(), member_id, entry_id, points, points, $14::timestamptz,
                       $6::timestamptz, $7::timestamptz
                  FROM entry),
            purchase AS (
                INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, channel,
                                       line_items, occurred_at, points_earned, entry_id)
                VALUES ($4, $2, $8, $9, $10, $11::jsonb, $12, $3::bigint, (SELECT entry_id FROM entry))
                ON CONFLICT (purchase_id) DO NOTHING
                RETURNING 1)
            SELECT (SELECT count(*) FROM purchase) = 1 AS recorded, entry.*
              FROM (SELECT) AS one LEFT JOIN entry ON true""",
        uuid.uuid4(),
        purchase.member_id,
        points,
        purchase.purchase_id,
        description,
        available_at,
        expires_at,
        purchase.amount.amount_minor,
        purchase.amount.currency,
        purchase.channel,
        json.dumps([asdict(item) for item in purchase.line_items]),
        purchase.occurred_at,
        breakdown,
        earned_at,
    )
    fields = dict(record)
    recorded = fields.pop("recorded")
    if fields["entry_id"] is None:
        return recorded, None
    LEDGER_ENTRIES.labels(fields["kind"]).inc()
    return recorded, EntryRow(**fields)


async def find_purchase(connection: asyncpg.Connection, purchase_id: str) -> PurchaseRow | None:
    record = await connection.fetchrow(
        "SELECT purchase_id, member_id, points_earned, entry_id FROM purchases WHERE purchase_id = $1",
        purchase_id,
    )
    return PurchaseRow(**record) if record else None


async def purchase_points_between(
    connection: asyncpg.Connection, member_id: str, start: datetime, end: datetime
) -> int:
    """Points the member's purchases that occurred in [start, end) earned: the per-day cap's count."""
    earned = await connection.fetchval(
        """SELECT coalesce(sum(points_earned), 0)::bigint FROM purchases
            WHERE member_id = $1 AND occurred_at >= $2 AND occurred_at < $3""",
        member_id,
        start,
        end,
    )
    return int(earned)
