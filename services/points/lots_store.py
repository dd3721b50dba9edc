"""SQL for lots, the draws debits make on them, holds, and the returns of captured holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common.ids import new_ids
from services.common.metrics import count_ledger_entries
from services.points import store
from services.points.ledger import Draw, Lot, OpenHold


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
    # The member's highest ledger entry when the hold was taken: it reserves points of lots up to it.
    seen_seq: int

    def status_at(self, now: datetime) -> str:
        """'held', 'captured', 'released' or 'expired' (a held hold past its expiry)."""
        return "expired" if self.status == "held" and self.expires_at <= now else self.status


_HOLD_COLUMNS = (
    "hold_id, member_id, points, idempotency_key, description, status, created_at, expires_at, capture_entry_id,"
    " seen_seq"
)


@dataclass(frozen=True)
class NewCredit:
    """A positive entry and the lot holding its points, spendable at once or pending until `available_at`."""

    member_id: str
    kind: str
    points: int
    idempotency_key: str
    description: str
    earned_at: datetime
    expires_at: datetime | None
    # JSON list of {source, points, description}, as EntryRow.breakdown.
    breakdown: str = "[]"
    available_at: datetime | None = None


async def insert_credit(connection: asyncpg.Connection, credit: NewCredit) -> store.EntryRow:
    return (await insert_credits(connection, [credit]))[0]


async def insert_credits(connection: asyncpg.Connection, credits: Sequence[NewCredit]) -> list[store.EntryRow]:
    """The credits' entries and lots in one statement (the balance trigger then updates each member once).

    A lot is never available before its entry was written. Entries come back in the order of `credits`.
    """
    if not credits:
        return []
    entry_ids = new_ids(len(credits))
    records = await connection.fetch(
        f"""WITH credit AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                                     $7::text[], $8::jsonb[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
                    AS c (entry_id, lot_id, member_id, kind, points, idempotency_key, description, breakdown,
                          earned_at, available_at, expires_at)),
            entry AS (
                INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown)
                SELECT entry_id, member_id, kind, points, idempotency_key, description, breakdown FROM credit
                RETURNING {store.ENTRY_COLUMNS}),
            lot AS (
                INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
                SELECT c.lot_id, c.member_id, c.entry_id, c.points, c.points, c.earned_at,
                       greatest(e.created_at, c.available_at), c.expires_at
                  FROM credit c JOIN entry e USING (entry_id))
            SELECT * FROM entry""",
        entry_ids,
        new_ids(len(credits)),
        [c.member_id for c in credits],
        [c.kind for c in credits],
        [c.points for c in credits],
        [c.idempotency_key for c in credits],
        [c.description for c in credits],
        [c.breakdown for c in credits],
        [c.earned_at for c in credits],
        [c.available_at for c in credits],
        [c.expires_at for c in credits],
    )
    entries = {r["entry_id"]: store.EntryRow(**r) for r in records}
    for credit in credits:
        count_ledger_entries(credit.kind)
    return [entries[entry_id] for entry_id in entry_ids]


async def members_with_expired_lots(connection: asyncpg.Connection, now: datetime, after: str, limit: int) -> list[str]:
    """Up to `limit` members, by id after `after`, with expired points still in lots.

    A keyset over member ids: a pass that walks it reads each open lot at most
    once, where asking for "the next members due" again each batch would read
    every expired lot each time.
    """
    records = await connection.fetch(
        """SELECT DISTINCT member_id FROM lots
            WHERE remaining > 0 AND expires_at <= $1 AND member_id > $2
            ORDER BY member_id LIMIT $3""",
        now,
        after,
        limit,
    )
    return [r["member_id"] for r in records]


async def expire_lots_now(
    connection: asyncpg.Connection, member_ids: Sequence[str], now: datetime, *, earned_before: datetime | None
) -> None:
    """Make the (locked) members' lots with points left expire at `now`, for the next expire to take: the inactivity
    sweep's lots earned before its pass (`earned_before`), or a closure's every lot (None).

    A lot a hold taken since `now` may count on expires just after that hold, never before, which would leave it
    backed by nothing (ledger.reservations). A lot of a purchase stamped ahead of the clock (up to 24 hours) that a
    closure forfeits is taken as earned just before `now`: a term cannot end before it began (a CHECK), and the lot
    is spent to nothing at once.
    """
    await connection.execute(
        """UPDATE lots SET expires_at = GREATEST($1, (
                  SELECT max(h.created_at) + interval '1 microsecond' FROM holds h
                   WHERE h.member_id = lots.member_id AND h.status = 'held')),
                  earned_at = LEAST(lots.earned_at, $1 - interval '1 microsecond')
            WHERE lots.member_id = ANY($2::text[]) AND lots.remaining > 0
              AND (lots.expires_at IS NULL OR lots.expires_at > $1)
              AND ($3::timestamptz IS NULL OR lots.earned_at < $3)""",
        now,
        member_ids,
        earned_before,
    )


async def owing_members_with_lapsed_holds(
    connection: asyncpg.Connection, now: datetime, lapsed_since: datetime, after: str, limit: int
) -> list[str]:
    """Up to `limit` members, by id after `after`, who owe points or are overdrawn and have a hold that ran out
    between `lapsed_since` and `now` (a keyset, as members_with_expired_lots)."""
    records = await connection.fetch(
        """SELECT m.member_id FROM members m
            WHERE (m.points_owed > 0 OR m.points_overdrawn > 0) AND m.member_id > $3
              AND EXISTS (SELECT 1 FROM holds h
                           WHERE h.member_id = m.member_id AND h.status = 'held'
                             AND h.expires_at <= $1 AND h.expires_at > $2)
            ORDER BY m.member_id LIMIT $4""",
        now,
        lapsed_since,
        after,
        limit,
    )
    return [r["member_id"] for r in records]


async def open_lots(connection: asyncpg.Connection, member_id: str) -> list[Lot]:
    return (await open_lots_of(connection, [member_id]))[member_id]


async def open_lots_of(connection: asyncpg.Connection, member_ids: Sequence[str]) -> dict[str, list[Lot]]:
    records = await connection.fetch(
        """SELECT l.member_id, l.lot_id, l.remaining, l.earned_at, l.available_at, l.expires_at, e.seq
             FROM lots l JOIN ledger_entries e USING (entry_id)
            WHERE l.member_id = ANY($1::text[]) AND l.remaining > 0""",
        list(member_ids),
    )
    lots: dict[str, list[Lot]] = {member_id: [] for member_id in member_ids}
    for record in records:
        fields = dict(record)
        lots[fields.pop("member_id")].append(Lot(**fields))
    return lots


async def open_holds(connection: asyncpg.Connection, member_id: str, now: datetime) -> list[OpenHold]:
    return (await open_holds_of(connection, [member_id], now))[member_id]


async def open_holds_of(
    connection: asyncpg.Connection, member_ids: Sequence[str], now: datetime
) -> dict[str, list[OpenHold]]:
    """The holds still reserving points, by member."""
    records = await connection.fetch(
        """SELECT member_id, hold_id, points, created_at, seen_seq FROM holds
            WHERE member_id = ANY($1::text[]) AND status = 'held' AND expires_at > $2""",
        list(member_ids),
        now,
    )
    holds: dict[str, list[OpenHold]] = {member_id: [] for member_id in member_ids}
    for record in records:
        fields = dict(record)
        holds[fields.pop("member_id")].append(OpenHold(**fields))
    return holds


async def apply_draws(connection: asyncpg.Connection, entry_id: uuid.UUID, draws: Sequence[Draw]) -> None:
    await apply_entries_draws(connection, [(entry_id, draw) for draw in draws])


async def apply_entries_draws(connection: asyncpg.Connection, draws: Sequence[tuple[uuid.UUID, Draw]]) -> None:
    """Take the drawn points off their lots and record which entry drew them, in two set-based statements."""
    entry_ids = [entry_id for entry_id, _ in draws]
    lot_ids = [draw.lot_id for _, draw in draws]
    points = [draw.points for _, draw in draws]
    await connection.execute(
        # Summed per lot: an UPDATE applies one joined row per target row, so two entries drawing on
        # one lot would otherwise take off only one of their draws.
        """UPDATE lots SET remaining = remaining - d.points
             FROM (SELECT lot_id, sum(points) AS points FROM unnest($1::uuid[], $2::bigint[]) AS u(lot_id, points)
                    GROUP BY lot_id) AS d
            WHERE lots.lot_id = d.lot_id""",
        lot_ids,
        points,
    )
    await connection.execute(
        # An entry may draw on a lot again: an overdrawn refund entry drew what its hold left free of its own
        # lot, and draws the rest when that lot settles it (settlement.py).
        """INSERT INTO lot_draws (entry_id, lot_id, points)
           SELECT entry_id, lot_id, sum(points) FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])
                  AS u(entry_id, lot_id, points)
            GROUP BY entry_id, lot_id
           ON CONFLICT (entry_id, lot_id) DO UPDATE SET points = lot_draws.points + EXCLUDED.points""",
        entry_ids,
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
                               created_at, expires_at, seen_seq)
            VALUES ($1, $2, $3, $4, $5, 'held', $6, $7,
                    (SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE member_id = $2))
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


@dataclass(frozen=True)
class Returned:
    """Points a return gave back to the lot a capture drew them from, and that lot's expiry."""

    lot_id: uuid.UUID
    points: int
    expires_at: datetime | None


async def give_back_draws(connection: asyncpg.Connection, entry_id: uuid.UUID) -> list[Returned]:
    """Put the points the debit `entry_id` drew back into the lots it drew them from, each with its lot's expiry.

    Its draws stay as they were (the record of the spend); the debit's points are given back once
    (hold_returns), so a lot's drawn points are its draws less the returns of the captures among them.
    """
    records = await connection.fetch(
        """UPDATE lots SET remaining = lots.remaining + d.points
             FROM lot_draws d
            WHERE d.entry_id = $1 AND lots.lot_id = d.lot_id
        RETURNING lots.lot_id, d.points, lots.expires_at""",
        entry_id,
    )
    return [Returned(**record) for record in records]


@dataclass(frozen=True)
class HoldReturn:
    """A captured hold given back (ReturnCapturedHold), and what of it expired at once."""

    hold_id: uuid.UUID
    idempotency_key: str
    entry_id: uuid.UUID
    points_expired: int


async def hold_returns_of(
    connection: asyncpg.Connection, hold_id: uuid.UUID | None, idempotency_key: str
) -> list[HoldReturn]:
    """The returns of the hold (None: of no hold), or under the key: at most one of each."""
    records = await connection.fetch(
        """SELECT hold_id, idempotency_key, entry_id, points_expired FROM hold_returns
            WHERE hold_id = $1 OR idempotency_key = $2""",
        hold_id,
        idempotency_key,
    )
    return [HoldReturn(**record) for record in records]


async def insert_hold_return(connection: asyncpg.Connection, given: HoldReturn, now: datetime) -> None:
    await connection.execute(
        """INSERT INTO hold_returns (hold_id, idempotency_key, entry_id, points_expired, returned_at)
           VALUES ($1, $2, $3, $4, $5)""",
        given.hold_id,
        given.idempotency_key,
        given.entry_id,
        given.points_expired,
        now,
    )
