"""SQL for the points service: members and ledger entries (purchases: purchases_store)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from services.common.ids import new_id
from services.common.metrics import count_ledger_entries
from services.points.domain import Enrollment


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


MEMBER_COLUMNS = (
    "member_id, email, given_name, family_name, tier, status, enrolled_at, balance, lifetime_earned, points_owed,"
    " points_overdrawn, birth_date, referrer_member_id"
)
ENTRY_COLUMNS = "seq, entry_id, member_id, kind, points, idempotency_key, description, created_at, breakdown"


async def insert_member(connection: asyncpg.Connection, enrollment: Enrollment, tier: str) -> MemberRow | None:
    """The new member, or None when the member id is taken."""
    record = await connection.fetchrow(
        f"""INSERT INTO members (member_id, email, given_name, family_name, tier, birth_date, referrer_member_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (member_id) DO NOTHING
            RETURNING {MEMBER_COLUMNS}""",
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
    record = await connection.fetchrow(f"SELECT {MEMBER_COLUMNS} FROM members WHERE member_id = $1{suffix}", member_id)
    return MemberRow(**record) if record else None


async def balances_of(connection: asyncpg.Connection, member_ids: Sequence[str]) -> dict[str, int]:
    """The members' balances as this transaction sees them: what an event it writes states as `balance_after`
    (the balance follows the ledger per statement, so this includes every entry written so far)."""
    records = await connection.fetch(
        "SELECT member_id, balance FROM members WHERE member_id = ANY($1::text[])", list(member_ids)
    )
    return {record["member_id"]: int(record["balance"]) for record in records}


async def balance_of(connection: asyncpg.Connection, member_id: str) -> int:
    return (await balances_of(connection, [member_id]))[member_id]


async def last_active_at(connection: asyncpg.Connection, member_id: str) -> datetime | None:
    """When the member was last active or, if later, enrolled: what the inactivity policy counts from (None: no
    such member)."""
    moment: datetime | None = await connection.fetchval(
        "SELECT GREATEST(last_activity_at, enrolled_at) FROM members WHERE member_id = $1", member_id
    )
    return moment


async def overdrawn_members(connection: asyncpg.Connection, member_ids: Sequence[str]) -> set[str]:
    """Those of the members whose balance a refund took below what their lots hold (negative_balance)."""
    records = await connection.fetch(
        "SELECT member_id FROM members WHERE member_id = ANY($1::text[]) AND points_overdrawn > 0", list(member_ids)
    )
    return {record["member_id"] for record in records}


async def lock_members(
    connection: asyncpg.Connection, member_ids: Sequence[str], *, skip_locked: bool = False
) -> dict[str, MemberRow]:
    """Lock the members that exist among `member_ids`, in id order so concurrent batches cannot deadlock.

    With `skip_locked`, members another transaction holds are left out instead of waited for.
    """
    skip = " SKIP LOCKED" if skip_locked else ""
    records = await connection.fetch(
        f"""SELECT {MEMBER_COLUMNS} FROM members WHERE member_id = ANY($1::text[])
             ORDER BY member_id FOR UPDATE{skip}""",
        list(member_ids),
    )
    return {r["member_id"]: MemberRow(**r) for r in records}


async def lock_off_ladder(connection: asyncpg.Connection, ladder: Sequence[str], limit: int) -> list[asyncpg.Record]:
    """Up to `limit` active members (member_id, tier) whose tier is not on `ladder`, locked in member id order (a
    closed member's tier stays as it was)."""
    records: list[asyncpg.Record] = await connection.fetch(
        """SELECT member_id, tier FROM members WHERE NOT (tier = ANY($1::text[])) AND status = 'active'
            ORDER BY member_id LIMIT $2 FOR UPDATE""",
        list(ladder),
        limit,
    )
    return records


async def members_in_tiers(connection: asyncpg.Connection, tiers: Sequence[str], after: str, limit: int) -> list[str]:
    """The next `limit` active members after `after`, in member id order, whose tier is one of `tiers`; not locked."""
    records = await connection.fetch(
        """SELECT member_id FROM members WHERE member_id > $2 AND tier = ANY($1::text[]) AND status = 'active'
            ORDER BY member_id LIMIT $3""",
        list(tiers),
        after,
        limit,
    )
    return [record["member_id"] for record in records]


@dataclass(frozen=True)
class DatedPage:
    """What a page of date_by_ladder found: the last member id it read (None: none left after `after`), how many
    members it found to date, and how many of those it dated (the others another transaction held)."""

    last_member_id: str | None
    found: int
    dated: int


async def date_by_ladder(
    connection: asyncpg.Connection, ladder: Sequence[str], requalify_at: datetime, after: str, limit: int
) -> DatedPage:
    """Give the next `limit` members after `after`, in member id order, the requalification date their place on
    `ladder` calls for: `requalify_at` to those above its first tier without one (a version added a tier below
    theirs), none to those on its first tier with one (a version dropped the tier below theirs). Closed members are
    never requalified (their closure took their date), so never dated.

    Members another transaction holds are skipped, never waited for (found but not dated): this takes no lock in
    an order of its own, so never deadlocks with a batch locking its members in id order (lock_buyers). The page is
    found without locks, then locked; paging by member id reads the table once a sweep.
    """
    record = await connection.fetchrow(
        """WITH found AS (
               SELECT member_id FROM members
                WHERE member_id > $4
                  AND ((tier = ANY($1::text[]) AND requalify_at IS NULL) OR (tier = $2 AND requalify_at IS NOT NULL))
                  AND status = 'active'
                ORDER BY member_id LIMIT $5),
           locked AS (
               SELECT member_id FROM members
                WHERE member_id = ANY(ARRAY(SELECT member_id FROM found))
                  AND ((tier = ANY($1::text[]) AND requalify_at IS NULL) OR (tier = $2 AND requalify_at IS NOT NULL))
                  AND status = 'active'
                  FOR UPDATE SKIP LOCKED),
           dated AS (
               UPDATE members m SET requalify_at = CASE WHEN m.tier = $2 THEN NULL ELSE $3::timestamptz END
                 FROM locked l
                WHERE m.member_id = l.member_id
               RETURNING 1)
           SELECT (SELECT max(member_id) FROM found) AS last_member_id, (SELECT count(*) FROM found) AS found,
                  (SELECT count(*) FROM dated) AS dated""",
        list(ladder[1:]),
        ladder[0],
        requalify_at,
        after,
        limit,
    )
    return DatedPage(record["last_member_id"], int(record["found"]), int(record["dated"]))


async def lock_due_for_requalification(
    connection: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` members (member_id, tier, requalify_at) due for requalification by `now`, earliest first, locked.

    Members another transaction holds are skipped, left for the next pass: this never waits, so never deadlocks.
    """
    records: list[asyncpg.Record] = await connection.fetch(
        """SELECT member_id, tier, requalify_at FROM members WHERE requalify_at <= $1
            ORDER BY requalify_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return records


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
            RETURNING {ENTRY_COLUMNS}""",
        new_id(),
        member_id,
        kind,
        points,
        idempotency_key,
        description,
        breakdown,
    )
    count_ledger_entries(kind)
    return EntryRow(**record)


@dataclass(frozen=True)
class NewEntry:
    """An entry without breakdown, for insert_entries."""

    member_id: str
    kind: str
    points: int
    idempotency_key: str
    description: str
    entry_id: uuid.UUID = field(default_factory=new_id)


async def insert_entries(connection: asyncpg.Connection, entries: Sequence[NewEntry]) -> None:
    """insert_entry for many entries in one statement: the balance trigger then updates each member once."""
    if not entries:
        return
    await connection.execute(
        """INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])""",
        [e.entry_id for e in entries],
        [e.member_id for e in entries],
        [e.kind for e in entries],
        [e.points for e in entries],
        [e.idempotency_key for e in entries],
        [e.description for e in entries],
    )
    for entry in entries:
        count_ledger_entries(entry.kind)


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
    record = await connection.fetchrow(f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE entry_id = $1", entry_id)
    return EntryRow(**record) if record else None


async def entries_with_keys(connection: asyncpg.Connection, idempotency_keys: list[str]) -> set[str]:
    """Those of `idempotency_keys` that some entry already has."""
    records = await connection.fetch(
        "SELECT idempotency_key FROM ledger_entries WHERE idempotency_key = ANY($1::text[])", idempotency_keys
    )
    return {r["idempotency_key"] for r in records}


async def find_member_entry_by_keys(
    connection: asyncpg.Connection, member_id: str, idempotency_keys: Sequence[str]
) -> EntryRow | None:
    """The member's entry with one of `idempotency_keys` (a key's current form and the one it had before)."""
    record = await connection.fetchrow(
        f"""SELECT {ENTRY_COLUMNS} FROM ledger_entries
             WHERE idempotency_key = ANY($2::text[]) AND member_id = $1 LIMIT 1""",
        member_id,
        list(idempotency_keys),
    )
    return EntryRow(**record) if record else None


async def find_entry_by_key(connection: asyncpg.Connection, idempotency_key: str) -> EntryRow | None:
    record = await connection.fetchrow(
        f"SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE idempotency_key = $1", idempotency_key
    )
    return EntryRow(**record) if record else None


async def keep_activity_balance(connection: asyncpg.Connection, entry_id: uuid.UUID, balance: int) -> None:
    """Keep the balance an activity's bonus entry was answered with: a repeat of its key answers it again."""
    await connection.execute(
        "INSERT INTO activity_balances (entry_id, balance_after) VALUES ($1, $2)", entry_id, balance
    )


async def activity_balance(connection: asyncpg.Connection, entry_id: uuid.UUID) -> int | None:
    """The balance the activity of `entry_id` was first answered with; None if credited before migration 027."""
    balance = await connection.fetchval("SELECT balance_after FROM activity_balances WHERE entry_id = $1", entry_id)
    return None if balance is None else int(balance)


async def list_entries(
    connection: asyncpg.Connection, member_id: str, *, before_seq: int | None, limit: int
) -> list[EntryRow]:
    records = await connection.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM ledger_entries
             WHERE member_id = $1 AND ($2::bigint IS NULL OR seq < $2)
             ORDER BY seq DESC LIMIT $3""",
        member_id,
        before_seq,
        limit,
    )
    return [EntryRow(**r) for r in records]


async def close_member(
    connection: asyncpg.Connection, member_id: str, now: datetime, reason: str, actor: str
) -> MemberRow:
    """Mark the (locked) member closed, with when, why and by whom. Its requalification date goes: a closed member's
    tier is never judged again, so the tier-at-risk and requalification jobs never pick it up."""
    record = await connection.fetchrow(
        f"""UPDATE members SET status = 'closed', closed_at = $2, closed_reason = $3, closed_by = $4,
                               requalify_at = NULL
             WHERE member_id = $1
            RETURNING {MEMBER_COLUMNS}""",
        member_id,
        now,
        reason,
        actor,
    )
    return MemberRow(**record)


async def closed_at(connection: asyncpg.Connection, member_id: str) -> datetime | None:
    """When the member was closed; None while it is active."""
    moment: datetime | None = await connection.fetchval("SELECT closed_at FROM members WHERE member_id = $1", member_id)
    return moment
