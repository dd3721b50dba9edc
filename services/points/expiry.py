"""The expiry job: takes expired points off with expiry entries and reminds members before points expire.

It runs periodically in the points service; `run_once(now)` is one pass, so
tests and operators can run it at a chosen time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.db import unit_of_work
from services.common.events import new_envelopes
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import domain, expiry_reminders, ledger, lots_store, settlement, store
from services.points.dormancy import LAST_ACTIVE, NO_MEMBER, dormant_at_sql, last_active_before
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"


@dataclass(frozen=True)
class ExpiryReport:
    members_expired: int
    points_expired: int
    members_reminded: int


class ExpiryJob:
    def __init__(
        self,
        pool: asyncpg.Pool,
        programs: ProgramApplication,
        *,
        remind_before: timedelta = timedelta(days=30),
        batch: int = 500,
    ) -> None:
        self._pool = pool
        self._programs = programs
        # The program's expiry.reminder_days, when it sets one, wins over this default.
        self._remind_before = remind_before
        self._batch = batch

    async def run_once(self, now: datetime | None = None) -> ExpiryReport:
        now = now or domain.utc_now()
        async with self._pool.acquire() as connection:
            version = await self._programs.in_force_in(connection, None, now)
        policy = version.program.expiry if version else None
        if policy and policy.inactivity_months:
            await self._expire_inactive(now, policy.inactivity_months)
        expired = await self._expire_all(now)
        await self._settle_lapsed_holds(now)
        remind_before = self._remind_before
        if policy and policy.reminder_days is not None:
            remind_before = timedelta(days=policy.reminder_days)
        reminded = await expiry_reminders.remind_of_terms(self._pool, now, remind_before, self._batch)
        if policy and policy.inactivity_months:
            reminded += await expiry_reminders.remind_of_dormancy(
                self._pool, now, remind_before, policy.inactivity_months, self._batch
            )
        return ExpiryReport(len(expired), sum(expired.values()), reminded)

    async def _expire_inactive(self, now: datetime, inactivity_months: int) -> None:
        """Inactivity policy: every lot of a member whose date (ExpiryPolicy.dormant_at) has come expires now.

        Enrolling counts as activity: a member never active counts from it, and a
        new member whose only purchases were made long before enrolling (sent
        late) is not dormant on day one. What activity is: migration points/017.
        Members are locked first, a batch per transaction (those busy elsewhere
        are left for the next pass): a purchase committing meanwhile makes its
        member active again before any of their lots is touched. A hold taken
        since the pass began (`now`) keeps its points: they expire just after
        it, never before, which would leave it backed by nothing
        (ledger.reservations).
        """
        after = NO_MEMBER
        while True:
            async with unit_of_work(self._pool) as connection:
                dormant = await connection.fetch(
                    f"""SELECT member_id, {LAST_ACTIVE} AS last_active FROM members m
                         WHERE ({LAST_ACTIVE}, member_id) > ($5, $6) AND {LAST_ACTIVE} < $2
                           AND {dormant_at_sql(LAST_ACTIVE, "$4")} <= $1
                           AND EXISTS (SELECT 1 FROM lots l
                                        WHERE l.member_id = m.member_id AND l.remaining > 0
                                          AND (l.expires_at IS NULL OR l.expires_at > $1) AND l.earned_at < $1)
                         ORDER BY {LAST_ACTIVE}, member_id LIMIT $3
                           FOR UPDATE SKIP LOCKED""",
                    now,
                    last_active_before(now, inactivity_months),
                    self._batch,
                    inactivity_months,
                    *after,
                )
                # A statement of its own, after the whole batch is locked: its snapshot holds every hold committed
                # before, where one statement locking as it went would miss holds taken on members it had yet to reach.
                await lots_store.expire_lots_now(
                    connection, [record["member_id"] for record in dormant], now, earned_before=now
                )
            if len(dormant) < self._batch:
                return
            after = (dormant[-1]["last_active"], dormant[-1]["member_id"])

    async def _expire_all(self, now: datetime) -> dict[str, int]:
        """Every member with expired points, a batch per transaction, in member id order; points taken off by member
        (expired, or repaid from a refunded credit's own points: see expire_due).

        Points expiring for many members at once (a calendar-year term) come off in one pass, not a batch per interval.
        """
        expired: dict[str, int] = {}
        after = ""
        while True:
            async with unit_of_work(self._pool) as connection:
                due = await lots_store.members_with_expired_lots(connection, now, after, self._batch)
                # Members busy elsewhere are skipped, not waited for: the next pass takes them.
                locked = await store.lock_members(connection, due, skip_locked=True)
                expired.update(await expire_due(connection, list(locked), now))
            if len(due) < self._batch:
                return expired
            after = due[-1]

    async def _settle_lapsed_holds(self, now: datetime) -> None:
        """Points a hold kept from a refund, freed when the hold ran out, settle that refund now rather than at the
        member's next hold, capture or debit: until then the balance would show them as spendable.

        Holds that ran out longer ago than the longest a hold lasts were settled by an earlier pass (or, if the
        service was down that long, settle at the member's next operation as before), so a pass looks no further.
        """
        after = ""
        while True:
            async with unit_of_work(self._pool) as connection:
                due = await lots_store.owing_members_with_lapsed_holds(
                    connection, now, now - ledger.MAX_HOLD_TTL, after, self._batch
                )
                locked = await store.lock_members(connection, due, skip_locked=True)
                for member in locked.values():
                    await settlement.settle_freed(connection, member, now)
            if len(due) < self._batch:
                return
            after = due[-1]


@dataclass(frozen=True)
class ArrivedExpired:
    """Points that expired as they were credited: what each member lost, and the PointsExpired announcing it."""

    # Taken off each member's balance: the points expired, and those that settled what a refund left owed.
    taken: dict[str, int]
    # The points expired alone, by member: a PointsEarned's balance_after is before them (PointsExpired follows).
    expired: dict[str, int]
    # Added by the caller after its PointsEarned, which they expire: readers see the credit, then its expiry.
    announced: list[EventEnvelope]

    def repaid(self, member_id: str) -> int:
        """What the member's refunded credits' own points settled as they expired: no event announces it, so a
        PointsEarned's balance_after is after it."""
        return self.taken.get(member_id, 0) - self.expired.get(member_id, 0)


async def expire_on_arrival(
    connection: asyncpg.Connection, credited: Iterable[tuple[str, datetime | None]], now: datetime
) -> ArrivedExpired:
    """Points credited already past their expiry (an activity reported after its points' term) expire in the
    transaction that credits them, not at the job's next pass: never part of the balance while not available.

    `credited` holds (member id, expires_at) of the new lots; their members are locked by the caller. Returns the
    points taken off each member's balance (see expire_due) and the events to add after the credits'.
    """
    members = sorted({member for member, expires_at in credited if expires_at is not None and expires_at <= now})
    if not members:
        return ArrivedExpired({}, {}, [])
    taken, expired = await _expire(connection, members, now)
    by_member = {event.member_id: event.points for event in expired}
    return ArrivedExpired(taken, by_member, _envelopes(expired, now))


async def expire_due(connection: asyncpg.Connection, member_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Expire what the (locked) members have expired, less what backs open holds and what settles points their
    refunds could not take (services/points/settlement.py), and announce it.

    Returns the points taken off each member's balance: those expired, and those the settling repaid.
    """
    taken, expired = await _expire(connection, member_ids, now)
    await add_events(connection, POINTS_EVENTS_TOPIC, _envelopes(expired, now))
    return taken


@dataclass(frozen=True)
class Forfeiture:
    """The expiry entry of a closure (CloseMember), keyed by the member so that a member is closed once."""

    member_id: str
    description: str

    @property
    def key(self) -> str:
        return f"close:{self.member_id}"


async def forfeit_all(
    connection: asyncpg.Connection, forfeiture: Forfeiture, now: datetime
) -> events.PointsExpired | None:
    """A closure: every point left in the (locked) member's lots, available and pending, expires now, by the path
    the inactivity policy takes a dormant member's points, and is announced as PointsExpired (insights counts it
    off the liability as it counts expired points). Points already past their term expire first, in an entry of
    their own as the job would post them. Returns the forfeiture's PointsExpired; None when nothing was left.

    The caller refuses a member with an open hold, so none of the points backs one: all go.
    """
    member_ids = [forfeiture.member_id]
    await expire_due(connection, member_ids, now)
    await lots_store.expire_lots_now(connection, member_ids, now, earned_before=None)
    _, expired = await _expire(connection, member_ids, now, forfeiture)
    await add_events(connection, POINTS_EVENTS_TOPIC, _envelopes(expired, now))
    return expired[0] if expired else None


async def _expire(
    connection: asyncpg.Connection, member_ids: Sequence[str], now: datetime, forfeiture: Forfeiture | None = None
) -> tuple[dict[str, int], list[events.PointsExpired]]:
    lots = await lots_store.open_lots_of(connection, member_ids)
    holds = await lots_store.open_holds_of(connection, member_ids, now)
    draws, repaid = await settlement.settle_from_own_points(
        connection, {member: ledger.draws_to_expire(lots[member], holds[member], now) for member in member_ids}
    )
    entries = [
        store.NewEntry(
            member_id=member_id,
            kind="expiry",
            points=-points,
            idempotency_key=forfeiture.key if forfeiture else f"expiry:{uuid.uuid4()}",
            description=f"{points} points {forfeiture.description if forfeiture else 'expired'}",
        )
        for member_id, member_draws in draws.items()
        if (points := sum(draw.points for draw in member_draws))
    ]
    await store.insert_entries(connection, entries)
    await lots_store.apply_entries_draws(
        connection, [(entry.entry_id, draw) for entry in entries for draw in draws[entry.member_id]]
    )
    balances = await store.balances_of(connection, [entry.member_id for entry in entries])
    expired = [
        events.PointsExpired(
            member_id=entry.member_id,
            points=-entry.points,
            ledger_entry_id=str(entry.entry_id),
            balance_after=balances[entry.member_id],
        )
        for entry in entries
    ]
    taken = dict(repaid)
    for entry in entries:
        taken[entry.member_id] = taken.get(entry.member_id, 0) - entry.points
    return taken, expired


def _envelopes(payloads: Sequence[events.PointsExpired], now: datetime) -> list[EventEnvelope]:
    return new_envelopes([(payload, payload.member_id) for payload in payloads], source=SOURCE, occurred_at=now)
