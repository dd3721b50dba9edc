"""Bonuses for actions: the signup bonus paid on enrolment, and RecordActivity for the program's configured activities.

A bonus is a ledger entry of kind 'bonus' with a lot available at once, and a
PointsEarned event. Its breakdown names where it came from ("signup" or
"activity:<id>"); an activity's limit counts the member's bonus entries with
that source whose lot was earned in the limit's period, under the member row
lock, so concurrent calls cannot credit past the limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.activity_time import check_activity_time
from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import check_member_id
from services.common.outbox import add_events
from services.common.text_fields import check_line
from services.points import domain, ledger, lots_store, settlement, store
from services.points.expiry import expire_on_arrival
from services.points.program import Activity, LimitPer, Program
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"
_PERIOD = {LimitPer.EVER: "ever", LimitPer.MONTH: "per calendar month", LimitPer.YEAR: "per calendar year"}


@dataclass(frozen=True)
class ActivityRecord:
    member_id: str
    activity_id: str
    idempotency_key: str
    occurred_at: datetime


@dataclass(frozen=True)
class ActivityResult:
    points_earned: int
    entry: store.EntryRow
    duplicate: bool
    balance: int


def validate_activity(record: ActivityRecord, now: datetime) -> ActivityRecord:
    violations = Violations()
    check_member_id(violations, "member_id", record.member_id)
    if not record.activity_id:
        violations.add("activity_id", "is required: the id of an activity in the program's bonuses.activities")
    check_line(violations, "idempotency_key", record.idempotency_key, max_length=ledger.MAX_KEY, required=True)
    check_activity_time(violations, "occurred_at", record.occurred_at, now)
    violations.raise_if_any()
    return record


def limit_reached(activity: Activity, credited: int) -> bool:
    """Whether `credited` credits already in the period leave no room for another."""
    return credited >= activity.limit.count


async def credit_signup(connection: asyncpg.Connection, member: store.MemberRow, program: Program) -> int:
    """Credit the program's signup bonus to a member enrolled in this transaction; returns the points (0: none)."""
    points = program.bonuses.signup_points
    if not points:
        return 0
    signup = Bonus(
        member_id=member.member_id,
        points=points,
        key=f"signup:{member.member_id}",
        source="signup",
        description=f"signup bonus of program {program.id}",
        earned_at=member.enrolled_at,
        balance_after=member.balance + points,
    )
    await credit_bonus(connection, program, signup)
    return points


async def record_activity(pool: asyncpg.Pool, programs: ProgramApplication, record: ActivityRecord) -> ActivityResult:
    """Credit a configured activity once per idempotency key, within its limit; a repeated key returns the first
    result, the balance it answered included (kept in activity_balances)."""
    validate_activity(record, domain.utc_now())
    # '/' is never in a member id, so no two members' keys meet, where ':' is (a member "a" with key "x:y" and a
    # member "a:x" with key "y" met in the key activities were credited under before, still read for repeats).
    key = f"activity/{record.member_id}/{record.idempotency_key}"
    key_before = f"activity:{record.member_id}:{record.idempotency_key}"
    source = f"activity:{record.activity_id}"
    async with unit_of_work(pool) as connection:
        # Locked first, like every mutation: concurrent activities of one member count one after another.
        member = await store.get_member(connection, record.member_id, lock=True)
        if member is None:
            raise NotFound(f"member_id: member {record.member_id!r} is not enrolled")
        previous = await store.find_member_entry_by_keys(connection, member.member_id, [key, key_before])
        if previous is not None:
            if json.loads(previous.breakdown)[0]["source"] != source:
                raise AlreadyExists("idempotency_key: already used for a different activity")
            # The balance first answered, not the member's now; an activity credited before migration 027 kept
            # none, and its repeat answers the balance now, as every repeat did then.
            first = await store.activity_balance(connection, previous.entry_id)
            balance = member.balance if first is None else first
            return ActivityResult(previous.points, previous, duplicate=True, balance=balance)
        domain.require_open(member.member_id, member.status)
        version = await programs.in_force_in(connection, None, record.occurred_at)
        if version is None:
            raise FailedPrecondition("occurred_at: no program is in force at that time, so no activity earns points")
        program = version.program
        activity = program.bonuses.activity(record.activity_id)
        if activity is None:
            raise InvalidArgument.single(
                "activity_id", f"{record.activity_id!r} is not an activity of program {program.id}"
            )
        start, end = program.period_bounds(activity.limit.per, record.occurred_at)
        if limit_reached(activity, await store.count_bonuses(connection, member.member_id, source, start, end)):
            raise FailedPrecondition(
                f"activity_id: {activity.id!r} already earned its limit of {activity.limit.count}"
                f" {_PERIOD[activity.limit.per]}"
            )
        bonus = Bonus(
            member_id=member.member_id,
            points=activity.points,
            key=key,
            source=source,
            description=activity.description or f"activity {activity.id}",
            earned_at=record.occurred_at,
            balance_after=member.balance + activity.points,
        )
        entry = await credit_bonus(connection, program, bonus)
        # Read again: points of an activity reported after their term expired as they were credited.
        after = await store.get_member(connection, member.member_id)
        assert after is not None
        await store.keep_activity_balance(connection, entry.entry_id, after.balance)
        return ActivityResult(activity.points, entry, duplicate=False, balance=after.balance)


@dataclass(frozen=True)
class Bonus:
    """A bonus to credit: `source` names where it came from in the breakdown and the event's reason."""

    member_id: str
    points: int
    key: str
    source: str
    description: str
    earned_at: datetime
    # The member's balance once credited, for the PointsEarned event.
    balance_after: int
    # Pending until then; available at once without it.
    available_at: datetime | None = None

    def pending(self, now: datetime) -> bool:
        """Whether its points are not available yet (a referral bonus within its purchase's pending window): with
        no pending days, or for a purchase sent after its window, they are available as credited."""
        return self.available_at is not None and self.available_at > now

    def breakdown(self) -> str:
        return json.dumps([{"source": self.source, "points": self.points, "description": self.description}])


async def credit_bonus(connection: asyncpg.Connection, program: Program, bonus: Bonus) -> store.EntryRow:
    return (await credit_bonuses(connection, program, [bonus]))[0]


async def credit_bonuses(
    connection: asyncpg.Connection, program: Program, bonuses: Sequence[Bonus]
) -> list[store.EntryRow]:
    """Each bonus's entry, its lot and its PointsEarned event; a statement for all entries and one for the events."""
    credits = [
        lots_store.NewCredit(
            member_id=bonus.member_id,
            kind="bonus",
            points=bonus.points,
            idempotency_key=bonus.key,
            description=bonus.description,
            earned_at=bonus.earned_at,
            expires_at=program.expires_at(bonus.earned_at),
            breakdown=bonus.breakdown(),
            available_at=bonus.available_at,
        )
        for bonus in bonuses
    ]
    entries = await lots_store.insert_credits(connection, credits)
    now = domain.utc_now()
    # Before covering: points that arrive past their term (an activity reported late) cover no overdraft, as a
    # purchase's do not. They were never spendable.
    expired = await expire_on_arrival(connection, [(c.member_id, c.expires_at) for c in credits], now)
    await _cover_overdrafts(connection, [e for b, e in zip(bonuses, entries, strict=True) if not b.pending(now)], now)
    envelopes = [
        new_envelope(
            events.PointsEarned(
                member_id=bonus.member_id,
                points=bonus.points,
                ledger_entry_id=str(entry.entry_id),
                reason=bonus.source,
                source_reference=bonus.key,
                # Less what settled a debt, not what expired as it arrived: the PointsExpired after it says so.
                balance_after=bonus.balance_after - expired.repaid(bonus.member_id),
            ),
            subject=bonus.member_id,
            source=SOURCE,
            occurred_at=entry.created_at,
        )
        for bonus, entry in zip(bonuses, entries, strict=True)
    ]
    await add_events(connection, POINTS_EVENTS_TOPIC, [*envelopes, *expired.announced])
    return entries


async def _cover_overdrafts(connection: asyncpg.Connection, entries: Sequence[store.EntryRow], now: datetime) -> None:
    """Bonuses repay no debt, but cover an overdraft as any new points do (settlement.settle_spent_refunds).

    Not pending ones (a referral bonus until its purchase's return window closes): a return may void them,
    taking back what their lot still holds, and what had covered the overdraft would stay with the member. A
    referral bonus available at once (no pending days, or a purchase sent after its window) no return voids.
    """
    overdrawn = await store.overdrawn_members(connection, [entry.member_id for entry in entries])
    for entry in entries:
        if entry.member_id in overdrawn:
            member = await store.get_member(connection, entry.member_id)  # as the bonuses before it left it
            assert member is not None
            await settlement.settle_spent_refunds(connection, member, entry, now, overdraft_only=True)
