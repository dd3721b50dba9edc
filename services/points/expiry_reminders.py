"""PointsExpiring reminders: before a lot's fixed term ends, and before the inactivity policy takes everything.

Both announce what GetPointsSchedule shows (services/points/schedule.py): the
points an open hold reserves are left out, since its capture spends them and
the expiry job leaves them while it is open. A member whose holds decide what
is announced is locked (one held elsewhere is left for the next pass), so
that no hold is taken or released between reading their holds and marking
what was announced.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.events import new_envelopes, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import lots_store, schedule, store
from services.points.dormancy import LAST_ACTIVE, Keyset, dormant_at_sql, last_active_before, last_active_from

SOURCE = "loyalty.points"
# A lot with points its reminders have yet to announce: never reminded, or with more points than the last one
# announced (a hold kept some from it and has ended). Lots reminded before migration 031 announced them all.
_TO_ANNOUNCE = "(lots.reminded_at IS NULL OR lots.remaining > coalesce(lots.reminded_points, lots.remaining))"


async def remind_of_terms(pool: asyncpg.Pool, now: datetime, remind_before: timedelta, batch: int) -> int:
    """One PointsExpiring per member for the lots whose term ends within `remind_before`, each point announced once.

    Members with no open hold, nearly all of them, are reminded in one statement, however many are due (a
    calendar-year term brings everyone at once). It skips lots another transaction is changing, for the next
    pass, rather than wait: waiting on lots of many members without their locks could deadlock with a spend.
    The few members with an open hold are locked and worked out as GetPointsSchedule does. What each lot's
    reminder announced is kept: points a hold kept from it are announced by a later pass if the hold ends
    before the term (a reminder of the lot's points then). Returns the members reminded.
    """
    until = now + remind_before
    async with unit_of_work(pool) as connection:
        records = await connection.fetch(
            f"""WITH due AS (
                   SELECT lot_id FROM lots
                    WHERE remaining > 0 AND {_TO_ANNOUNCE} AND expires_at > $1 AND expires_at <= $2
                      AND NOT EXISTS (SELECT 1 FROM holds h
                                       WHERE h.member_id = lots.member_id AND h.status = 'held' AND h.expires_at > $1)
                      FOR UPDATE SKIP LOCKED),
               reminded AS (
                   UPDATE lots SET reminded_at = $1, reminded_points = lots.remaining
                     FROM due WHERE lots.lot_id = due.lot_id
                   RETURNING lots.member_id, lots.remaining, lots.expires_at)
               SELECT member_id, sum(remaining)::bigint AS points, min(expires_at) AS expires_at
                 FROM reminded GROUP BY member_id""",
            now,
            until,
        )
        expiring = [_reminder(r["member_id"], schedule.Due(r["expires_at"], r["points"])) for r in records]
        await _announce(connection, expiring, now)
    reminded = len(expiring)
    after = ""
    while True:
        async with unit_of_work(pool) as connection:
            due = await _holders_with_lots_to_remind(connection, now, until, after, batch)
            locked = sorted(await store.lock_members(connection, due, skip_locked=True))
            expiring = await _term_reminders(connection, locked, now, until)
            await _announce(connection, expiring, now)
        reminded += len(expiring)
        if len(due) < batch:
            return reminded
        after = due[-1]


async def remind_of_dormancy(
    pool: asyncpg.Pool, now: datetime, remind_before: timedelta, inactivity_months: int, batch: int
) -> int:
    """One PointsExpiring per member whose points the inactivity policy takes within the reminder window, once
    for each date: activity since moves the date, and the member is reminded again before the new one.

    The points announced for the date are kept: points that come to be at stake on the same date later
    (credited without activity, such as goodwill or a birthday bonus, or given back by a hold that ended) make
    a later pass remind the member again, of all the points the date would take. Returns the members reminded.
    """
    reminded = 0
    after: Keyset = (last_active_from(now, inactivity_months), "")
    while True:
        async with unit_of_work(pool) as connection:
            due, last = await _lock_dormant_to_remind(connection, now, remind_before, inactivity_months, after, batch)
            lots = await lots_store.open_lots_of(connection, list(due))
            holds = await lots_store.open_holds_of(connection, list(due), now)
            expiring = []
            for member_id, (dormant_at, announced) in due.items():
                taken = schedule.points_schedule(lots[member_id], holds[member_id], now, dormant_at=dormant_at)
                if taken.inactivity and taken.inactivity.points > announced:
                    expiring.append(_reminder(member_id, taken.inactivity))
            await connection.execute(
                """UPDATE members m SET inactivity_reminded_for = r.dormant_at, inactivity_reminded_points = r.points
                     FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS r (member_id, dormant_at, points)
                    WHERE m.member_id = r.member_id""",
                [reminder.member_id for reminder in expiring],
                [due[reminder.member_id][0] for reminder in expiring],
                [reminder.points for reminder in expiring],
            )
            await _announce(connection, expiring, now)
        reminded += len(expiring)
        if len(due) < batch:
            return reminded
        after = last


async def _holders_with_lots_to_remind(
    connection: asyncpg.Connection, now: datetime, until: datetime, after: str, limit: int
) -> list[str]:
    """Up to `limit` members, by id after `after`, with an open hold and a lot with points not yet announced whose
    term ends after `now` and by `until`."""
    records = await connection.fetch(
        f"""SELECT DISTINCT h.member_id FROM holds h
            WHERE h.status = 'held' AND h.expires_at > $1 AND h.member_id > $3
              AND EXISTS (SELECT 1 FROM lots
                           WHERE lots.member_id = h.member_id AND lots.remaining > 0 AND {_TO_ANNOUNCE}
                             AND lots.expires_at > $1 AND lots.expires_at <= $2)
            ORDER BY h.member_id LIMIT $4""",
        now,
        until,
        after,
        limit,
    )
    return [r["member_id"] for r in records]


async def _term_reminders(
    connection: asyncpg.Connection, member_ids: Sequence[str], now: datetime, until: datetime
) -> list[events.PointsExpiring]:
    """The reminders of the (locked) members' lots whose term ends after `now` and by `until`, for those with more
    points free of holds than were announced; marks what each announces."""
    due = await connection.fetch(
        f"""SELECT lot_id, CASE WHEN reminded_at IS NULL THEN 0 ELSE coalesce(reminded_points, remaining) END
                   AS announced
              FROM lots
             WHERE member_id = ANY($1::text[]) AND remaining > 0 AND {_TO_ANNOUNCE}
               AND expires_at > $2 AND expires_at <= $3""",
        list(member_ids),
        now,
        until,
    )
    announced_before = {record["lot_id"]: record["announced"] for record in due}
    lots = await lots_store.open_lots_of(connection, member_ids)
    holds = await lots_store.open_holds_of(connection, member_ids, now)
    announced: dict[uuid.UUID, int] = {}
    expiring = []
    for member_id in member_ids:
        free = schedule.unreserved(lots[member_id], holds[member_id])
        reminded = [
            lot
            for lot in lots[member_id]
            if lot.lot_id in announced_before and free[lot.lot_id] > announced_before[lot.lot_id]
        ]
        if reminded:
            announced.update((lot.lot_id, free[lot.lot_id]) for lot in reminded)
            soonest = min(lot.expires_at for lot in reminded if lot.expires_at is not None)
            expiring.append(_reminder(member_id, schedule.Due(soonest, sum(free[lot.lot_id] for lot in reminded))))
    await connection.execute(
        """UPDATE lots SET reminded_at = $1, reminded_points = a.points
             FROM unnest($2::uuid[], $3::bigint[]) AS a (lot_id, points) WHERE lots.lot_id = a.lot_id""",
        now,
        list(announced),
        list(announced.values()),
    )
    return expiring


async def _lock_dormant_to_remind(
    connection: asyncpg.Connection, now: datetime, remind_before: timedelta, months: int, after: Keyset, limit: int
) -> tuple[dict[str, tuple[datetime, int]], Keyset]:
    """Up to `limit` members, after `after` in the keyset, whose points the inactivity policy may take after `now`
    and within `remind_before`, with points at stake their reminders of that date have yet to announce; locked
    (those held elsewhere are skipped). Their dates and the points already announced for them, by member, and the
    keyset's last."""
    records = await connection.fetch(
        f"""SELECT m.member_id, {LAST_ACTIVE} AS last_active, d.dormant_at,
                   CASE WHEN m.inactivity_reminded_for = d.dormant_at THEN m.inactivity_reminded_points ELSE 0 END
                       AS announced
              FROM members m, LATERAL (SELECT {dormant_at_sql(LAST_ACTIVE, "$2")} AS dormant_at) AS d,
                   LATERAL (SELECT sum(l.remaining) AS points FROM lots l
                             WHERE l.member_id = m.member_id AND l.remaining > 0
                               AND (l.expires_at IS NULL OR l.expires_at > d.dormant_at)) AS at_stake
             WHERE ({LAST_ACTIVE}, m.member_id) > ($5, $6) AND {LAST_ACTIVE} < $1
               AND d.dormant_at > $3 AND d.dormant_at <= $3 + $4::interval
               AND at_stake.points > 0
               -- Reminded of this date before migration 031 (no points kept): all its points were announced.
               AND (m.inactivity_reminded_for IS DISTINCT FROM d.dormant_at
                    OR at_stake.points > m.inactivity_reminded_points)
             ORDER BY {LAST_ACTIVE}, m.member_id LIMIT $7
               FOR UPDATE OF m SKIP LOCKED""",
        last_active_before(now + remind_before, months),
        months,
        now,
        remind_before,
        *after,
        limit,
    )
    last = (records[-1]["last_active"], records[-1]["member_id"]) if records else after
    return {r["member_id"]: (r["dormant_at"], r["announced"]) for r in records}, last


def _reminder(member_id: str, due: schedule.Due) -> events.PointsExpiring:
    return events.PointsExpiring(member_id=member_id, points=due.points, expires_at=timestamp(due.at))


async def _announce(connection: asyncpg.Connection, expiring: Sequence[events.PointsExpiring], now: datetime) -> None:
    envelopes = new_envelopes([(reminder, reminder.member_id) for reminder in expiring], source=SOURCE, occurred_at=now)
    await add_events(connection, POINTS_EVENTS_TOPIC, envelopes)
