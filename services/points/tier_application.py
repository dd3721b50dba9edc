"""Tier moves: upgrades right after qualifying activity, requalification when a tier's window ends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.activity_time import MAX_COUNTED_EARLIER
from services.common.currencies import minor_unit_exponent
from services.common.db import unit_of_work
from services.common.decimals import decimal_text
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.points import domain, store, tiers
from services.points.program import Program, TierBasis
from services.points.program_application import ProgramApplication, ProgramVersion

SOURCE = "loyalty.points"


# No end to a window: asyncpg sends it as PostgreSQL's 'infinity'.
OPEN_END = datetime.max.replace(tzinfo=UTC)
# An enrolment or purchase that read the version before may still commit a tier of its ladder a moment after
# the new version takes effect: a ladder counts as checked only on a pass this long after that.
LADDER_SETTLED_AFTER = timedelta(minutes=5)
_INSTANT = timedelta(microseconds=1)


async def qualifying_value(connection: asyncpg.Connection, member_id: str, program: Program, now: datetime) -> Decimal:
    """Points earned (less refunds) or money spent (less refunds, program currency) in the window ending now."""
    return (await qualifying_values(connection, [member_id], program, now))[member_id]


async def qualifying_values(
    connection: asyncpg.Connection, member_ids: Sequence[str], program: Program, now: datetime
) -> dict[str, Decimal]:
    """qualifying_value for many members in one statement."""
    assert program.tiers is not None
    window = (tiers.window_start(program.tiers, now, program.timezone), OPEN_END)
    return await values_in_windows(connection, program, {member_id: window for member_id in member_ids})


async def values_judged_at(
    connection: asyncpg.Connection, program: Program, requalify_at: Mapping[str, datetime]
) -> dict[str, Decimal]:
    """Each member's value (so far) in the window its requalification judges (tiers.judged_window)."""
    assert program.tiers is not None
    windows = {
        member_id: tiers.judged_window(program.tiers, at, program.timezone) for member_id, at in requalify_at.items()
    }
    return await values_in_windows(connection, program, windows)


async def values_in_windows(
    connection: asyncpg.Connection, program: Program, windows: Mapping[str, tuple[datetime, datetime]]
) -> dict[str, Decimal]:
    """Each member's value in its window [start, end), in one statement: a range scan over the window alone.

    Points and spend count in the window of the activity that earned them
    (the purchase's occurred_at, the partner activity's day; never after
    it was recorded: activity_time.counted_at), and a refund counts
    against its purchase's window with every point it reverses, whether the
    ledger took them back, left them owed or found them expired; so does a
    partner's cancellation against its accrual's.
    """
    member_ids = list(windows)
    starts = [windows[member_id][0] for member_id in member_ids]
    ends = [windows[member_id][1] for member_id in member_ids]
    assert program.tiers is not None
    if program.tiers.basis is TierBasis.POINTS:
        records = await connection.fetch(
            """SELECT m.member_id,
                      (SELECT coalesce(sum(e.points), 0) FROM ledger_entries e
                        WHERE e.member_id = m.member_id AND e.qualifies_at >= m.since AND e.qualifies_at < m.until)
                    - (SELECT coalesce(sum(r.points_reversed), 0) FROM refunds r
                        WHERE r.member_id = m.member_id
                          AND r.purchase_occurred_at >= m.since AND r.purchase_occurred_at < m.until)
                    - (SELECT coalesce(sum(c.points_reversed), 0) FROM partner_cancellations c
                        WHERE c.member_id = m.member_id
                          AND c.qualifies_at >= m.since AND c.qualifies_at < m.until) AS value
                 FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS m (member_id, since, until)""",
            member_ids,
            starts,
            ends,
        )
        return {record["member_id"]: Decimal(int(record["value"])) for record in records}
    records = await connection.fetch(
        """SELECT m.member_id,
                  (SELECT coalesce(sum(p.amount_minor), 0) FROM purchases p
                    WHERE p.member_id = m.member_id AND p.currency_code = $4
                      -- when it counts (see purchases_store): found by occurred_at, at most $5 later
                      AND p.occurred_at >= m.since AND p.occurred_at < m.until + $5::interval
                      AND coalesce(p.qualifies_at, p.occurred_at) >= m.since
                      AND coalesce(p.qualifies_at, p.occurred_at) < m.until)
                - (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds r
                    WHERE r.member_id = m.member_id
                      AND r.purchase_occurred_at >= m.since AND r.purchase_occurred_at < m.until
                      -- by key, per refund in the window: never a join a plan could make a scan of purchases
                      AND (SELECT p.currency_code FROM purchases p WHERE p.purchase_id = r.purchase_id) = $4)
                  AS spent_minor
             FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS m (member_id, since, until)""",
        member_ids,
        starts,
        ends,
        program.currency,
        MAX_COUNTED_EARLIER,
    )
    precision = minor_unit_exponent(program.currency)
    return {record["member_id"]: Decimal(int(record["spent_minor"])).scaleb(-precision) for record in records}


async def upgrades_after_activity(
    connection: asyncpg.Connection,
    members: Sequence[store.MemberRow],
    program: Program | None,
    now: datetime,
    *,
    spent: bool,
) -> list[tuple[str, tiers.TierChange]]:
    """The members (locked) whose window value now reaches a higher tier, each with its move up.

    `spent` says whether the activity spent money: activity that only earned
    points (partner accruals) cannot move a spend-basis tier, so is not counted.
    """
    if program is None or program.tiers is None or not members:
        return []
    if program.tiers.basis is TierBasis.SPEND and not spent:
        return []
    # Once per member: a batch may hold several purchases of one buyer.
    distinct = list({member.member_id: member for member in members}.values())
    values = await qualifying_values(connection, [member.member_id for member in distinct], program, now)
    changes = [(m.member_id, tiers.upgrade(program.tiers, m.tier, values[m.member_id])) for m in distinct]
    return [(member_id, change) for member_id, change in changes if change is not None]


async def move_after_activities(
    connection: asyncpg.Connection,
    members: Sequence[store.MemberRow],
    program: Program | None,
    now: datetime,
    *,
    spent: bool,
) -> None:
    """Upgrade at once the members (locked) whose window value reached a higher tier."""
    if program is None:
        return
    upgrades = await upgrades_after_activity(connection, members, program, now, spent=spent)
    await apply_moves(connection, [TierMove.of(member_id, change, program, now) for member_id, change in upgrades])


@dataclass(frozen=True)
class TierMove:
    """A member's move to another tier, with the TierReached or TierLost that announces it."""

    member_id: str
    tier: str
    moved_at: datetime
    requalify_at: datetime | None
    announcement: EventEnvelope

    @classmethod
    def of(cls, member_id: str, change: tiers.TierChange, program: Program, now: datetime) -> TierMove:
        """The move, announced in the current trace context."""
        assert program.tiers is not None
        requalify_at = None  # the lowest tier cannot be lost
        if change.tier != program.tiers.levels[0].name:
            requalify_at = tiers.next_requalification(program.tiers, now, program.timezone)
        fields = {
            "member_id": member_id,
            "tier": change.tier,
            "previous_tier": change.previous,
            "qualifying_value": decimal_text(change.qualifying_value),
        }
        event = events.TierReached(**fields) if change.upward(program.tiers) else events.TierLost(**fields)
        announcement = new_envelope(event, subject=member_id, source=SOURCE, occurred_at=now)
        return cls(member_id, change.tier, now, requalify_at, announcement)


async def apply_moves(connection: asyncpg.Connection, moves: Sequence[TierMove]) -> None:
    """Move the members (locked) to their new tiers, with their next requalification dates, and announce it."""
    if not moves:
        return
    await connection.execute(
        """UPDATE members m SET tier = c.tier, tier_since = c.moved_at, requalify_at = c.requalify_at
             FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
                  AS c (member_id, tier, moved_at, requalify_at)
            WHERE m.member_id = c.member_id""",
        [move.member_id for move in moves],
        [move.tier for move in moves],
        [move.moved_at for move in moves],
        [move.requalify_at for move in moves],
    )
    await add_events(connection, POINTS_EVENTS_TOPIC, [move.announcement for move in moves])


class RequalificationJob:
    """Checks members whose tier window ended: they keep, gain or lose (boundedly) their tier."""

    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication, *, batch: int = 500) -> None:
        self._pool = pool
        self._programs = programs
        self._batch = batch
        # The program version whose ladder every member was last found on: no need to look again until it changes.
        self._ladder_checked: tuple[str, int] | None = None
        # The program version by whose ladder a sweep last dated every member it found.
        self._ladder_dated: tuple[str, int] | None = None

    async def run_once(self, now: datetime | None = None) -> int:
        """Requalify every member due by `now`, a batch per transaction; returns how many were requalified.

        A calendar-year program makes all of its members due at the same moment:
        a pass works through all of them rather than one batch per interval.
        """
        now = now or domain.utc_now()
        requalified = await self._place_off_ladder(now)
        while True:
            done = await self._requalify_batch(now)
            requalified += done
            if done < self._batch:
                return requalified

    async def _place_off_ladder(self, now: datetime) -> int:
        """Put members whose tier is not on the ladder in force (enrolled before the program was applied, or in a
        tier a later version dropped) on the level their window value earns, announced as TierReached; then date
        members by that ladder (_date_by_ladder).

        The ladder counts as checked once a pass LADDER_SETTLED_AFTER the version took effect found nobody off it
        and dated everybody it had to.
        """
        placed = 0
        while True:
            async with unit_of_work(self._pool) as connection:
                version = await self._programs.in_force_in(connection, None, now)
                if version is None or version.program.tiers is None:
                    return placed
                program = version.program
                assert program.tiers is not None
                if self._ladder_checked == (program.id, version.version):
                    return placed
                off = await store.lock_off_ladder(
                    connection, [level.name for level in program.tiers.levels], self._batch
                )
                values = await qualifying_values(connection, [r["member_id"] for r in off], program, now)
                moves = []
                for member_id, tier in ((r["member_id"], r["tier"]) for r in off):
                    change = tiers.upgrade(program.tiers, tier, values[member_id])
                    assert change is not None  # off the ladder, any level is up
                    moves.append(TierMove.of(member_id, change, program, now))
                await apply_moves(connection, moves)
            placed += len(off)
            if len(off) < self._batch:
                break
        ladder = (program.id, version.version)
        in_force_since = max(version.effective_from, version.created_at or version.effective_from)
        settled = now - in_force_since >= LADDER_SETTLED_AFTER
        # Dating reads through the members: once when the version takes effect, once when nothing that read the
        # version before can still commit a member undated by this one, and again after a sweep that left some.
        if self._ladder_dated != ladder or settled:
            complete = await self._date_by_ladder(program, now)
            if await self._judges_tiers_anew(version):
                complete = await self._upgrade_by_ladder(program, now) and complete
            self._ladder_dated = ladder if complete else None
            if complete and settled:
                self._ladder_checked = ladder
        return placed

    async def _date_by_ladder(self, program: Program, now: datetime) -> bool:
        """Date members by the ladder of `program`, a page per transaction, after placement committed: those above
        its first tier without a requalification date (they held the first tier of a version that had no tier below
        theirs) are checked at the end of the window from now, in its rules; those on its first tier with one (a
        version dropped the tier below) lose it.

        Members another transaction holds are left for a later pass, as the requalification batches leave them:
        this never waits, so never deadlocks with a purchase batch. Returns whether it dated every member it found.
        """
        assert program.tiers is not None
        ladder = [level.name for level in program.tiers.levels]
        requalify_at = tiers.next_requalification(program.tiers, now, program.timezone)
        after, complete = "", True
        while True:
            async with unit_of_work(self._pool) as connection:
                page = await store.date_by_ladder(connection, ladder, requalify_at, after, self._batch)
            complete = complete and page.dated == page.found
            if page.last_member_id is None or page.found < self._batch:
                return complete
            after = page.last_member_id

    async def _judges_tiers_anew(self, version: ProgramVersion) -> bool:
        """Whether `version` judges tiers otherwise than the version before it, so that members may reach a higher
        tier by what they already did (sweeping every member for it is not done for nothing, at every start)."""
        async with self._pool.acquire() as connection:
            before = await self._programs.in_force_in(connection, None, version.effective_from - _INSTANT)
        if before is None:
            return False  # the first version: members it found off its ladder were placed by their value
        judged = (version.program.tiers, version.program.timezone, version.program.currency)
        return judged != (before.program.tiers, before.program.timezone, before.program.currency)

    async def _upgrade_by_ladder(self, program: Program, now: datetime) -> bool:
        """Move up the members whose window value reaches a higher tier of `program` (a version lowered a threshold,
        or changed the basis or window), as their next activity would: upgrades happen at once, not at a purchase.

        Members another transaction holds are left for a later pass (their own activity moves them meanwhile).
        Returns whether it looked at every member it found.
        """
        assert program.tiers is not None
        below_top = [level.name for level in program.tiers.levels[:-1]]
        after, complete = "", True
        while True:
            async with unit_of_work(self._pool) as connection:
                found = await store.members_in_tiers(connection, below_top, after, self._batch)
                locked = await store.lock_members(connection, found, skip_locked=True)
                still_below = [member for member in locked.values() if member.tier in below_top]
                await move_after_activities(connection, still_below, program, now, spent=True)
            complete = complete and len(locked) == len(found)
            if len(found) < self._batch:
                return complete
            after = found[-1]

    async def _requalify_batch(self, now: datetime) -> int:
        async with unit_of_work(self._pool) as connection:
            version = await self._programs.in_force_in(connection, None, now)
            if version is None or version.program.tiers is None:
                return 0
            program = version.program
            assert program.tiers is not None
            due = await store.lock_due_for_requalification(connection, now, self._batch)
            if not due:
                return 0
            judged = await values_judged_at(connection, program, {r["member_id"]: r["requalify_at"] for r in due})
            # A member never drops below what the window under way has already earned: the next activity
            # would only bring the tier back, announced twice.
            under_way = await qualifying_values(connection, list(judged), program, now)
            kept, moves = [], []
            for member_id, tier in ((r["member_id"], r["tier"]) for r in due):
                change = tiers.requalify(program.tiers, tier, max(judged[member_id], under_way[member_id]))
                if change is None:
                    kept.append(member_id)
                else:
                    moves.append(TierMove.of(member_id, change, program, now))
            await apply_moves(connection, moves)
            # Kept: checked again at the end of the new window; the first tier, which cannot be lost, never again.
            await connection.execute(
                """UPDATE members SET requalify_at = CASE WHEN tier = $3 THEN NULL ELSE $2::timestamptz END
                    WHERE member_id = ANY($1::text[])""",
                kept,
                tiers.next_requalification(program.tiers, now, program.timezone),
                program.tiers.levels[0].name,
            )
            return len(due)
