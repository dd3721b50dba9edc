"""SQL for recorded purchases: finding them, locking their buyers, writing them with their entries and lots."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import asyncpg

from services.common.activity_time import MAX_COUNTED_EARLIER, counted_at
from services.common.ids import new_id, new_ids
from services.common.metrics import count_ledger_entries
from services.points.domain import Purchase
from services.points.store import ENTRY_COLUMNS, MEMBER_COLUMNS, EntryRow, MemberRow

_PURCHASE_COLUMNS = (
    "purchase_id, member_id, points_earned, entry_id, amount_minor, currency_code, channel, line_items::text,"
    " balance_after, breakdown::text"
)


@dataclass(frozen=True)
class PurchaseRow:
    purchase_id: str
    member_id: str
    points_earned: int
    entry_id: uuid.UUID | None
    amount_minor: int
    currency_code: str
    channel: str
    # As jsonb keeps it.
    line_items: str
    # The balance the purchase was first answered with; None for purchases recorded before migration 027.
    balance_after: int | None = None
    # How a purchase that earned nothing was priced, as jsonb keeps it: no entry keeps it for the purchase. None
    # when its entry keeps it, and for purchases that earned nothing before migration 033.
    breakdown: str | None = None

    def difference_from(self, purchase: Purchase) -> str | None:
        """The first detail `purchase` gives otherwise than this record of its id, or None when it is a resend.

        Not the time: a client retrying a call it got no answer to often stamps it again (the CLI does), and
        the time first recorded stands. Line items are read back from jsonb, which reorders keys, so compared
        decoded.
        """
        if (self.amount_minor, self.currency_code) != (purchase.amount.amount_minor, purchase.amount.currency):
            return "amount"
        if self.channel != purchase.channel:
            return "channel"
        if json.loads(self.line_items) != json.loads(line_items_json(purchase)):
            return "line_items"
        return None


def line_items_json(purchase: Purchase) -> str:
    """The purchase's line items as the purchases table stores them."""
    return json.dumps([asdict(item) for item in purchase.line_items])


@dataclass(frozen=True)
class RecordedTerms:
    """What a recorded purchase's points came with: a repeat of the purchase answers them again."""

    # The program whose version priced it; empty for the flat rate.
    program_id: str
    # From its lot; None when it earned nothing.
    available_at: datetime | None
    expires_at: datetime | None


async def find_purchases(connection: asyncpg.Connection, purchase_ids: Sequence[str]) -> dict[str, PurchaseRow]:
    """The purchases already recorded among `purchase_ids`, by id."""
    records = await connection.fetch(
        f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE purchase_id = ANY($1::text[])", list(purchase_ids)
    )
    return {r["purchase_id"]: PurchaseRow(**r) for r in records}


async def lock_buyers(
    connection: asyncpg.Connection, purchases: Sequence[Purchase]
) -> tuple[dict[str, MemberRow], dict[str, PurchaseRow]]:
    """Lock the members making `purchases` (one purchase each) and find the purchase ids already recorded.

    One round trip; members are locked in id order, as lock_members does. The
    referrer of a buyer whose referral is not paid yet is locked in the same
    order: the purchase may pay it, and locking it afterwards could deadlock
    with a batch that holds the referrer and waits for a buyer of this one.
    """
    # Each purchase id is looked up by key (LIMIT 1 keeps the subquery from becoming a plain join). As a
    # join, the plan cached while purchases was new hashed the whole table on every batch until the next
    # ANALYZE: 7 ms a batch after 60,000 purchases, most of RecordPurchase's time in PostgreSQL.
    records = await connection.fetch(
        f"""WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS i(member_id, purchase_id)),
            locking AS (
                SELECT member_id FROM input
                 UNION
                SELECT b.referrer_member_id FROM input i JOIN members b ON b.member_id = i.member_id
                 WHERE b.referrer_member_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM referral_payments r WHERE r.referee_id = b.member_id)
                   -- Paid before referral_payments listed payments (migration 018): its bonus entries tell.
                   AND NOT EXISTS (SELECT 1 FROM ledger_entries e
                                    WHERE e.idempotency_key IN ('referral:' || b.member_id || ':referee',
                                                                'referral:' || b.member_id || ':referrer')))
            SELECT {", ".join(f"m.{c.strip()}" for c in MEMBER_COLUMNS.split(","))},
                   i.purchase_id, p.member_id AS purchase_member_id, p.points_earned, p.entry_id, p.amount_minor,
                   p.currency_code, p.channel, p.line_items, p.balance_after, p.breakdown
              FROM locking l
              JOIN members m ON m.member_id = l.member_id
              LEFT JOIN input i ON i.member_id = m.member_id
              LEFT JOIN LATERAL (
                  SELECT member_id, points_earned, entry_id, amount_minor, currency_code, channel, line_items::text,
                         balance_after, breakdown::text
                    FROM purchases
                   WHERE purchase_id = i.purchase_id LIMIT 1) p ON true
             ORDER BY m.member_id
               FOR UPDATE OF m""",
        [p.member_id for p in purchases],
        [p.purchase_id for p in purchases],
    )
    members: dict[str, MemberRow] = {}
    previous: dict[str, PurchaseRow] = {}
    for record in records:
        fields = dict(record)
        purchase_id = fields.pop("purchase_id")
        if purchase_id is None:  # a referrer locked for the referral, buying nothing in this batch
            continue
        recorded = PurchaseRow(
            purchase_id,
            fields.pop("purchase_member_id"),
            fields.pop("points_earned"),
            fields.pop("entry_id"),
            fields.pop("amount_minor"),
            fields.pop("currency_code"),
            fields.pop("channel"),
            fields.pop("line_items"),
            fields.pop("balance_after"),
            fields.pop("breakdown"),
        )
        members[fields["member_id"]] = MemberRow(**fields)
        if recorded.member_id is not None:
            previous[purchase_id] = recorded
    return members, previous


@dataclass(frozen=True)
class PurchaseEarning:
    """A purchase to record and what it earned: its entry and lot when points > 0."""

    purchase: Purchase
    points: int
    description: str
    # JSON list of how the points were earned.
    breakdown: str
    available_at: datetime
    expires_at: datetime | None
    # The balance after it as far as known when written (the member's before, plus the points): what a repeat
    # answers unless keep_balances corrects it (points that arrived expired, refund debt settled, a referral bonus).
    balance_after: int
    entry_id: uuid.UUID = field(default_factory=new_id)


async def insert_purchase_earnings(
    connection: asyncpg.Connection, earnings: Sequence[PurchaseEarning], now: datetime
) -> dict[str, EntryRow | None]:
    """Record purchases with their entries and lots in one statement, at `now`; purchase ids must be distinct.

    Returns, by purchase id, the entry of each purchase recorded (None when it
    earned nothing). A purchase id recorded meanwhile by a concurrent
    transaction is left out, and nothing is written for it.
    """
    if not earnings:
        return {}
    purchases = [e.purchase for e in earnings]
    records = await connection.fetch(
        f"""WITH input AS (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[],
                                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::bigint[],
                                     $11::text[], $12::text[], $13::jsonb[], $14::uuid[], $15::timestamptz[],
                                     $16::bigint[])
                    AS t(entry_id, member_id, points, purchase_id, description, breakdown, earned_at, available_at,
                         expires_at, amount_minor, currency_code, channel, line_items, lot_id, qualifies_at,
                         balance_after)),
            -- The purchase first: only a purchase id this statement records gets an entry and a lot, so a
            -- purchase id recorded meanwhile by a concurrent transaction writes nothing at all. The breakdown
            -- goes with the entry, or with the purchase when it earned nothing (no entry): a repeat answers it.
            purchase AS (
                INSERT INTO purchases (purchase_id, member_id, amount_minor, currency_code, channel,
                                       line_items, occurred_at, points_earned, entry_id, qualifies_at, balance_after,
                                       breakdown)
                SELECT purchase_id, member_id, amount_minor, currency_code, channel, line_items, earned_at, points,
                       CASE WHEN points > 0 THEN entry_id END, NULLIF(qualifies_at, earned_at), balance_after,
                       CASE WHEN points > 0 THEN NULL ELSE breakdown END
                  FROM input
                ON CONFLICT (purchase_id) DO NOTHING
                RETURNING purchase_id, entry_id AS recorded_entry_id),
            -- A purchase qualifies (and is activity) when it was made, never after it was recorded (counted_at):
            -- the purchase keeps that time only when it differs from occurred_at (a purchase stamped ahead).
            -- Its lot keeps the time sent, which priced it: the day it is pending from, the term it expires by.
            entry AS (
                INSERT INTO ledger_entries (entry_id, member_id, kind, points, idempotency_key, description, breakdown,
                                            qualifies_at)
                SELECT i.entry_id, i.member_id, 'purchase_earn', i.points, 'purchase:' || i.purchase_id,
                       i.description, i.breakdown, i.qualifies_at
                  FROM input i JOIN purchase p ON p.recorded_entry_id = i.entry_id
                RETURNING {ENTRY_COLUMNS}),
            lot AS (
                INSERT INTO lots (lot_id, member_id, entry_id, points, remaining, earned_at, available_at, expires_at)
                SELECT i.lot_id, i.member_id, i.entry_id, i.points, i.points, i.earned_at, i.available_at,
                       i.expires_at
                  FROM input i JOIN entry e ON e.entry_id = i.entry_id)
            SELECT p.purchase_id, e.*
              FROM purchase p LEFT JOIN entry e ON e.entry_id = p.recorded_entry_id""",
        [e.entry_id for e in earnings],
        [p.member_id for p in purchases],
        [e.points for e in earnings],
        [p.purchase_id for p in purchases],
        [e.description for e in earnings],
        [e.breakdown for e in earnings],
        [p.occurred_at for p in purchases],
        [e.available_at for e in earnings],
        [e.expires_at for e in earnings],
        [p.amount.amount_minor for p in purchases],
        [p.amount.currency for p in purchases],
        [p.channel for p in purchases],
        [line_items_json(p) for p in purchases],
        new_ids(len(earnings)),
        [counted_at(p.occurred_at, now) for p in purchases],
        [e.balance_after for e in earnings],
    )
    recorded: dict[str, EntryRow | None] = {}
    for record in records:
        fields = dict(record)
        purchase_id = fields.pop("purchase_id")
        if fields["entry_id"] is None:
            recorded[purchase_id] = None
            continue
        count_ledger_entries(fields["kind"])
        recorded[purchase_id] = EntryRow(**fields)
    return recorded


async def keep_balances(connection: asyncpg.Connection, balances: Sequence[tuple[str, int]]) -> None:
    """Keep on each purchase recorded in this transaction the balance it was answered with, (purchase id, balance)
    each, where it differs from the one written with it: a repeat answers it again. One statement for the batch."""
    if not balances:
        return
    await connection.execute(
        """UPDATE purchases p SET balance_after = b.balance
             FROM unnest($1::text[], $2::bigint[]) AS b(purchase_id, balance)
            WHERE p.purchase_id = b.purchase_id""",
        [purchase_id for purchase_id, _ in balances],
        [balance for _, balance in balances],
    )


async def find_purchase(connection: asyncpg.Connection, purchase_id: str) -> PurchaseRow | None:
    return (await find_purchases(connection, [purchase_id])).get(purchase_id)


async def recorded_terms(connection: asyncpg.Connection, purchase_id: str) -> RecordedTerms:
    """The terms of a recorded purchase. Its program: the version in force at its occurred_at among those
    applied before it was recorded (a version applied later never re-prices it)."""
    record = await connection.fetchrow(
        """SELECT l.available_at, l.expires_at,
                  coalesce((SELECT v.program_id FROM programs v
                             WHERE v.effective_from <= p.occurred_at AND v.created_at <= p.recorded_at
                             ORDER BY v.effective_from DESC LIMIT 1), '') AS program_id
             FROM purchases p LEFT JOIN lots l ON l.entry_id = p.entry_id
            WHERE p.purchase_id = $1""",
        purchase_id,
    )
    return RecordedTerms(record["program_id"], record["available_at"], record["expires_at"])


async def purchase_points_between(
    connection: asyncpg.Connection, member_id: str, start: datetime, end: datetime
) -> int:
    """Points the member's purchases that occurred in [start, end) earned, less what their refunds took back:
    the per-day cap's count.

    A refund is dated by when its purchase counts towards tiers (never after it was recorded, so up to
    MAX_COUNTED_EARLIER before its occurred_at): found by that, and counted by the occurred_at its purchase is.
    """
    earned = await connection.fetchval(
        """SELECT (SELECT coalesce(sum(points_earned), 0) FROM purchases
                    WHERE member_id = $1 AND occurred_at >= $2 AND occurred_at < $3)
                - (SELECT coalesce(sum(r.points_reversed), 0) FROM refunds r
                    WHERE r.member_id = $1 AND r.purchase_occurred_at >= $2 - $4::interval
                      AND r.purchase_occurred_at < $3
                      AND EXISTS (SELECT 1 FROM purchases p WHERE p.purchase_id = r.purchase_id
                                                             AND p.occurred_at >= $2 AND p.occurred_at < $3))""",
        member_id,
        start,
        end,
        MAX_COUNTED_EARLIER,
    )
    return int(earned)
