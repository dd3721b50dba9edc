"""SQL of the notifications service: the member view, preferences, messages and earnings summaries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import asyncpg

from services.common.read_model import Writes
from services.notifications.domain import (
    MEMBER_CLOSED,
    Category,
    Channel,
    Defaults,
    Preferences,
    QuietHours,
    Trigger,
    default_preferences,
)


@dataclass(frozen=True)
class MemberView:
    member_id: str
    given_name: str
    email_on_file: bool
    tier: str


async def enrol_member(
    connection: asyncpg.Connection,
    member_id: str,
    given_name: str,
    email_on_file: bool,
    birth_date: date | None,
    tier: str,
    enrolled_at: datetime,
) -> None:
    """Record what enrolment tells; a tier learnt from a later event is kept."""
    await connection.execute(
        """INSERT INTO members (member_id, given_name, email_on_file, birth_date, tier, tier_changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (member_id) DO UPDATE
              SET given_name = EXCLUDED.given_name, email_on_file = EXCLUDED.email_on_file,
                  birth_date = EXCLUDED.birth_date,
                  tier = CASE WHEN members.tier_changed_at > EXCLUDED.tier_changed_at
                              THEN members.tier ELSE EXCLUDED.tier END,
                  tier_changed_at = greatest(members.tier_changed_at, EXCLUDED.tier_changed_at)""",
        member_id,
        given_name,
        email_on_file,
        birth_date,
        tier,
        enrolled_at,
    )


async def set_tier(connection: asyncpg.Connection, member_id: str, tier: str, changed_at: datetime) -> None:
    """A tier change; one older than the tier already known is ignored (events may come late)."""
    await connection.execute(
        """INSERT INTO members (member_id, tier, tier_changed_at) VALUES ($1, $2, $3)
           ON CONFLICT (member_id) DO UPDATE SET tier = EXCLUDED.tier, tier_changed_at = EXCLUDED.tier_changed_at
           WHERE members.tier_changed_at IS NULL OR members.tier_changed_at <= EXCLUDED.tier_changed_at""",
        member_id,
        tier,
        changed_at,
    )


async def member(connection: asyncpg.Connection, member_id: str) -> MemberView | None:
    record = await connection.fetchrow(
        "SELECT member_id, given_name, email_on_file, tier FROM members WHERE member_id = $1", member_id
    )
    if record is None:
        return None
    return MemberView(record["member_id"], record["given_name"], record["email_on_file"], record["tier"])


async def preferences(connection: asyncpg.Connection, member_id: str, defaults: Defaults) -> Preferences | None:
    """The member's preferences, their defaults when never set, None when the member is unknown here."""
    record = await connection.fetchrow(
        """SELECT m.email_on_file, p.member_id IS NOT NULL AS customized, p.channels, p.opted_out, p.time_zone,
                  p.quiet_start, p.quiet_end, m.closed_at IS NOT NULL AS closed
             FROM (SELECT $1::text AS member_id) wanted
             LEFT JOIN members m USING (member_id)
             LEFT JOIN preferences p USING (member_id)
            WHERE m.member_id IS NOT NULL OR p.member_id IS NOT NULL""",
        member_id,
    )
    if record is None:
        return None
    if not record["customized"]:
        return replace(default_preferences(member_id, bool(record["email_on_file"]), defaults), closed=record["closed"])
    quiet = QuietHours(record["quiet_start"], record["quiet_end"]) if record["quiet_start"] is not None else None
    return Preferences(
        member_id,
        frozenset(Channel(c) for c in record["channels"]),
        frozenset(Category(c) for c in record["opted_out"]),
        record["time_zone"],
        quiet,
        customized=True,
        closed=record["closed"],
    )


async def save_preferences(connection: asyncpg.Connection, chosen: Preferences, now: datetime) -> None:
    quiet = chosen.quiet_hours
    await connection.execute(
        """INSERT INTO preferences (member_id, channels, opted_out, time_zone, quiet_start, quiet_end, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (member_id) DO UPDATE
              SET channels = EXCLUDED.channels, opted_out = EXCLUDED.opted_out, time_zone = EXCLUDED.time_zone,
                  quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
                  updated_at = EXCLUDED.updated_at""",
        chosen.member_id,
        sorted(c.value for c in chosen.channels),
        sorted(c.value for c in chosen.opted_out),
        chosen.time_zone,
        quiet.start if quiet else None,
        quiet.end if quiet else None,
        now,
    )


@dataclass(frozen=True)
class Message:
    notification_id: uuid.UUID
    idempotency_key: str
    member_id: str
    template_id: str
    channel: Channel
    variables: Mapping[str, str]
    trigger_event_id: str
    due_at: datetime


async def insert_message(connection: asyncpg.Connection, message: Message, now: datetime, *, sent: bool) -> bool:
    """Record a message, sent now or scheduled; False when its idempotency key was seen before."""
    inserted = await connection.fetchval(
        """INSERT INTO notifications (notification_id, idempotency_key, member_id, template_id, channel, variables,
                                      trigger_event_id, status, due_at, created_at, sent_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING true""",
        message.notification_id,
        message.idempotency_key,
        message.member_id,
        message.template_id,
        message.channel.value,
        json.dumps(dict(message.variables), sort_keys=True),
        message.trigger_event_id,
        "sent" if sent else "scheduled",
        message.due_at,
        now,
        now if sent else None,
    )
    return bool(inserted)


async def due_messages(connection: asyncpg.Connection, now: datetime, limit: int) -> list[Message]:
    """Scheduled messages due by `now`, locked; replicas releasing at once take different ones."""
    records = await connection.fetch(
        """SELECT notification_id, idempotency_key, member_id, template_id, channel, variables, trigger_event_id, due_at
             FROM notifications WHERE status = 'scheduled' AND due_at <= $1
            ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [
        Message(
            r["notification_id"],
            r["idempotency_key"],
            r["member_id"],
            r["template_id"],
            Channel(r["channel"]),
            json.loads(r["variables"]),
            r["trigger_event_id"],
            r["due_at"],
        )
        for r in records
    ]


async def mark_sent(connection: asyncpg.Connection, notification_id: uuid.UUID, now: datetime) -> None:
    await connection.execute(
        "UPDATE notifications SET status = 'sent', sent_at = $2 WHERE notification_id = $1", notification_id, now
    )


async def cancel(connection: asyncpg.Connection, notification_id: uuid.UUID, reason: str) -> None:
    await connection.execute(
        "UPDATE notifications SET status = 'cancelled', cancel_reason = $2 WHERE notification_id = $1",
        notification_id,
        reason,
    )


async def cancel_reward_notices(connection: asyncpg.Connection, member_id: str, redemption_id: str) -> None:
    """Cancel the redemption's reward_issued messages still held (quiet hours), and drop its trigger still waiting
    for the member to be known."""
    await connection.execute(
        """UPDATE notifications SET status = 'cancelled', cancel_reason = 'the redemption was cancelled'
            WHERE member_id = $1 AND template_id = 'reward_issued' AND status = 'scheduled'
              AND variables ->> 'redemption_id' = $2""",
        member_id,
        redemption_id,
    )
    await connection.execute(
        """DELETE FROM held_triggers
            WHERE member_id = $1 AND template_id = 'reward_issued' AND variables ->> 'redemption_id' = $2""",
        member_id,
        redemption_id,
    )


async def close_member(connection: asyncpg.Connection, member_id: str, closed_at: datetime) -> None:
    """Mark the member closed (known here or not yet: MemberEnrolled may come later) and cancel the messages held for
    later (quiet hours). The first closure's time stands."""
    await connection.execute(
        """INSERT INTO members (member_id, closed_at) VALUES ($1, $2)
           ON CONFLICT (member_id) DO UPDATE SET closed_at = coalesce(members.closed_at, EXCLUDED.closed_at)""",
        member_id,
        closed_at,
    )
    await connection.execute(
        """UPDATE notifications SET status = 'cancelled', cancel_reason = $2
            WHERE member_id = $1 AND status = 'scheduled'""",
        member_id,
        MEMBER_CLOSED,
    )


async def reschedule(connection: asyncpg.Connection, notification_id: uuid.UUID, due_at: datetime) -> None:
    await connection.execute("UPDATE notifications SET due_at = $2 WHERE notification_id = $1", notification_id, due_at)


async def add_earning(
    writes: Writes,
    member_id: str,
    points: int,
    balance_after: int,
    occurred_at: datetime,
    opened_at: datetime,
    due_at: datetime,
) -> None:
    """Add an earning to the member's open summary, or open one at `opened_at`, due at `due_at`.

    Sent with the other earnings of a consumed batch (a ReadModelConsumer): adding up is order-independent.
    """
    await writes.execute(
        """INSERT INTO earned_batches (batch_id, member_id, opened_at, due_at, points, earnings, balance_after,
                                       balance_seen_at)
           VALUES ($1, $2, $3, $4, $5, 1, $6, $7)
           ON CONFLICT (member_id) WHERE released_at IS NULL DO UPDATE
              SET points = earned_batches.points + EXCLUDED.points,
                  earnings = earned_batches.earnings + 1,
                  balance_after = CASE WHEN EXCLUDED.balance_seen_at >= earned_batches.balance_seen_at
                                       THEN EXCLUDED.balance_after ELSE earned_batches.balance_after END,
                  balance_seen_at = greatest(earned_batches.balance_seen_at, EXCLUDED.balance_seen_at)""",
        uuid.uuid4(),
        member_id,
        opened_at,
        due_at,
        points,
        balance_after,
        occurred_at,
    )


async def keep_balance(
    executor: Writes | asyncpg.Connection, member_id: str, balance: int, entry_id: uuid.UUID
) -> None:
    """Keep the balance a points event states, unless one stated by a later ledger entry is kept already.

    Ordered by the entry id, not the event's occurred_at: the events one transaction writes share their
    occurred_at (a PointsEarned and the PointsExpired that expires it on arrival), while entry ids are UUIDv7
    made in the order the entries are written, under the member's row lock, so they order a member's entries
    even within a millisecond. Idempotent, and order-independent as a ReadModelConsumer's writes must be.
    """
    await executor.execute(
        """INSERT INTO member_balances (member_id, balance, entry_id) VALUES ($1, $2, $3)
           ON CONFLICT (member_id) DO UPDATE SET balance = EXCLUDED.balance, entry_id = EXCLUDED.entry_id
           WHERE member_balances.entry_id < EXCLUDED.entry_id""",
        member_id,
        balance,
        entry_id,
    )


async def latest_balance(connection: asyncpg.Connection, member_id: str) -> int | None:
    """The member's latest balance an event stated; None when no event stated one yet."""
    balance = await connection.fetchval("SELECT balance FROM member_balances WHERE member_id = $1", member_id)
    return None if balance is None else int(balance)


@dataclass(frozen=True)
class EarnedBatch:
    batch_id: uuid.UUID
    member_id: str
    points: int
    earnings: int
    balance_after: int


async def due_batches(connection: asyncpg.Connection, now: datetime, limit: int) -> list[EarnedBatch]:
    records = await connection.fetch(
        """SELECT batch_id, member_id, points, earnings, balance_after FROM earned_batches
            WHERE released_at IS NULL AND due_at <= $1
            ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [EarnedBatch(**dict(r)) for r in records]


async def release_batch(connection: asyncpg.Connection, batch_id: uuid.UUID, now: datetime) -> None:
    await connection.execute("UPDATE earned_batches SET released_at = $2 WHERE batch_id = $1", batch_id, now)


async def postpone_batch(connection: asyncpg.Connection, batch_id: uuid.UUID, due_at: datetime) -> None:
    await connection.execute("UPDATE earned_batches SET due_at = $2 WHERE batch_id = $1", batch_id, due_at)


async def birthdays(
    connection: asyncpg.Connection, now: datetime, default_time_zone: str, around: Sequence[date], limit: int
) -> list[tuple[str, date]]:
    """(member, local date) of members whose birthday it is now in their time zone, not yet greeted this year.

    `around` are the dates a birthday today could fall on anywhere (the UTC
    date and the days either side), so the index narrows the search. A
    29 February birthday is greeted on the 28th in common years.
    """
    records = await connection.fetch(
        """SELECT member_id, today
             FROM (SELECT m.member_id, m.birth_date, m.birthday_year,
                          ($1::timestamptz AT TIME ZONE coalesce(p.time_zone, $2))::date AS today
                     FROM members m LEFT JOIN preferences p USING (member_id)
                    WHERE m.birth_date IS NOT NULL AND m.closed_at IS NULL
                      AND (date_part('month', m.birth_date), date_part('day', m.birth_date))
                          IN (SELECT * FROM unnest($3::float8[], $4::float8[]))) candidates
            WHERE birthday_year IS DISTINCT FROM date_part('year', today)::int
              AND (to_char(birth_date, 'MM-DD') = to_char(today, 'MM-DD')
                   OR (to_char(birth_date, 'MM-DD') = '02-29' AND to_char(today, 'MM-DD') = '02-28'
                       AND date_part('day', make_date(date_part('year', today)::int, 3, 1) - 1) = 28))
            ORDER BY member_id LIMIT $5""",
        now,
        default_time_zone,
        [float(d.month) for d in around],
        [float(d.day) for d in around],
        limit,
    )
    return [(r["member_id"], r["today"]) for r in records]


async def mark_birthday_greeted(connection: asyncpg.Connection, member_id: str, year: int) -> None:
    await connection.execute("UPDATE members SET birthday_year = $2 WHERE member_id = $1", member_id, year)


def dates_around(moment: datetime) -> list[date]:
    """The dates it is somewhere on Earth at `moment` (UTC date and a day either side), with 29 February
    added beside a 28 February."""
    today = moment.astimezone(UTC).date()
    days = [today - timedelta(days=1), today, today + timedelta(days=1)]
    leap_days = [date(2000, 2, 29)] if any((d.month, d.day) == (2, 28) for d in days) else []
    return days + leap_days


async def hold_trigger(connection: asyncpg.Connection, trigger: Trigger, now: datetime) -> None:
    await connection.execute(
        """INSERT INTO held_triggers (trigger_key, template_id, member_id, variables, trigger_event_id, held_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6) ON CONFLICT DO NOTHING""",
        trigger.key,
        trigger.template_id,
        trigger.member_id,
        json.dumps(dict(trigger.variables), sort_keys=True),
        trigger.event_id,
        now,
    )


async def take_held_triggers(
    connection: asyncpg.Connection, held_before: datetime, limit: int
) -> tuple[list[Trigger], list[Trigger]]:
    """Held triggers whose member is known now, and those held since before `held_before` whose member
    never became known; both are removed."""
    records = await connection.fetch(
        """DELETE FROM held_triggers h
            WHERE (trigger_key, template_id) IN (
                  SELECT trigger_key, template_id FROM held_triggers t
                   WHERE EXISTS (SELECT 1 FROM members m WHERE m.member_id = t.member_id)
                      OR EXISTS (SELECT 1 FROM preferences p WHERE p.member_id = t.member_id)
                      OR t.held_at < $1
                   ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING trigger_key, template_id, member_id, variables, trigger_event_id,
                  EXISTS (SELECT 1 FROM members m WHERE m.member_id = h.member_id)
                  OR EXISTS (SELECT 1 FROM preferences p WHERE p.member_id = h.member_id) AS known""",
        held_before,
        limit,
    )
    known: list[Trigger] = []
    expired: list[Trigger] = []
    for r in records:
        trigger = Trigger(
            r["template_id"], r["member_id"], r["trigger_key"], json.loads(r["variables"]), r["trigger_event_id"]
        )
        (known if r["known"] else expired).append(trigger)
    return known, expired
