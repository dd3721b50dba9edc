"""Spending use cases: balances, the points schedule (what expires when), holds (reserve, capture, release, return a
captured one) and manual adjustments.

Every mutation locks the member row first, so concurrent operations on one
member run one after another: no lost update, no overspend.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as events

from services.common.db import taken_concurrently, unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.common.events import new_envelope
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import require_member_id
from services.common.outbox import add_event
from services.points import domain, hold_returns, ledger, lots_store, schedule, settlement, store
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"
_HOLD_KEY_TAKEN = "idempotency_key: already used for a different hold"
_ADJUSTMENT_KEY_TAKEN = "idempotency_key: already used for a different adjustment"
_Read = TypeVar("_Read")


@dataclass(frozen=True)
class HoldResult:
    hold: lots_store.HoldRow
    status: str
    duplicate: bool = False
    entry: store.EntryRow | None = None


@dataclass(frozen=True)
class AdjustResult:
    entry: store.EntryRow
    duplicate: bool


class LedgerApplication:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication | None = None) -> None:
        self._pool = pool
        # The program in force says when the inactivity policy takes a member's points (points_schedule).
        self._programs = programs or ProgramApplication(pool)

    async def balances(self, member_id: str) -> ledger.Balances:
        return (await self.member_balances(member_id))[1]

    async def member_balances(self, member_id: str) -> tuple[store.MemberRow, ledger.Balances]:
        """The member and its balances, read in one snapshot: a capture committing between the reads of lots
        and holds would count its points both as held and as still in their lots.

        A member who owes points, or whose refunds overdrew, may have a hold that ran out since and freed a
        refunded credit's own points: they settle first (as the member's next hold would), or the balance would
        show as available points that no hold can take.
        """
        require_member_id(member_id)
        return await self._settled_read(member_id, self._read_balances)

    async def points_schedule(self, member_id: str) -> tuple[store.MemberRow, schedule.Schedule]:
        """When the member's points expire and pending points become available (services/points/schedule.py),
        read in one snapshot after what a lapsed hold freed settled, as member_balances reads."""
        require_member_id(member_id)
        return await self._settled_read(member_id, self._read_schedule)

    async def _settled_read(
        self, member_id: str, read: Callable[[str], Awaitable[tuple[store.MemberRow, _Read]]]
    ) -> tuple[store.MemberRow, _Read]:
        """`read` of the member; for a member who owes points or is overdrawn, after what a hold that ran out
        freed has settled (see member_balances)."""
        member, result = await read(member_id)
        if (member.points_owed or member.points_overdrawn) and await self._settle_freed(member_id):
            member, result = await read(member_id)
        return member, result

    async def _settle_freed(self, member_id: str) -> bool:
        """Settle what a hold that ran out freed, for a read; whether anything was settled.

        A read writes only when there is something to settle (asked in a read-only snapshot first), never waits
        on a transaction holding the member (whose own operation settles them first), and on a read-only
        database (a failover) leaves them to settle later: a read must not wait or fail for it.
        """
        async with self._snapshot(member_id) as (connection, member):
            if not await settlement.freed_to_settle(connection, member, domain.utc_now()):
                return False
        try:
            async with unit_of_work(self._pool) as connection:
                locked = await store.lock_members(connection, [member_id], skip_locked=True)
                if member_id not in locked:
                    return False
                await settlement.settle_freed(connection, locked[member_id], domain.utc_now())
        except asyncpg.exceptions.ReadOnlySQLTransactionError:
            return False
        return True

    @asynccontextmanager
    async def _snapshot(self, member_id: str) -> AsyncIterator[tuple[asyncpg.Connection, store.MemberRow]]:
        """A read-only snapshot (repeatable read) and the member as it shows."""
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield connection, await _member(connection, member_id, lock=False)

    async def _read_balances(self, member_id: str) -> tuple[store.MemberRow, ledger.Balances]:
        async with self._snapshot(member_id) as (connection, member):
            return member, await _balances(connection, member_id, domain.utc_now())

    async def _read_schedule(self, member_id: str) -> tuple[store.MemberRow, schedule.Schedule]:
        async with self._snapshot(member_id) as (connection, member):
            now = domain.utc_now()
            lots = await lots_store.open_lots(connection, member_id)
            holds = await lots_store.open_holds(connection, member_id, now)
            # The version in force now, as the expiry job's pass reads it.
            version = await self._programs.in_force_in(connection, None, now)
            dormant_at = None
            if version is not None and version.program.expiry.inactivity_months is not None:
                last_active_at = await store.last_active_at(connection, member_id)
                assert last_active_at is not None  # the member was read in this snapshot
                dormant_at = version.program.expiry.dormant_at(last_active_at)
            return member, schedule.points_schedule(lots, holds, now, dormant_at=dormant_at)

    async def hold(
        self, member_id: str, points: int, idempotency_key: str, ttl: timedelta | None, description: str
    ) -> HoldResult:
        require_member_id(member_id)
        ttl = ledger.validate_hold(points, idempotency_key, ttl, description)
        async with unit_of_work(self._pool) as connection:
            member = await _member(connection, member_id, lock=True)
            now = domain.utc_now()  # after the lock: what was open when the lock was asked for may not be now
            previous = await lots_store.find_hold_by_key(connection, idempotency_key)
            if previous is not None:
                if (previous.member_id, previous.points) != (member_id, points):
                    raise AlreadyExists(_HOLD_KEY_TAKEN)
                return HoldResult(previous, previous.status_at(now), duplicate=True)
            domain.require_open(member_id, member.status)
            await settlement.settle_freed(connection, member, now)  # a hold that ran out may have freed some
            ledger.require_available(await _balances(connection, member_id, now), points)
            with taken_concurrently({"holds_idempotency_key_key"}, _HOLD_KEY_TAKEN):
                hold = await lots_store.insert_hold(
                    connection,
                    member_id=member_id,
                    points=points,
                    idempotency_key=idempotency_key,
                    description=description,
                    now=now,
                    expires_at=now + ttl,
                )
            return HoldResult(hold, "held")

    async def capture(self, hold_id: str) -> HoldResult:
        async with unit_of_work(self._pool) as connection:
            hold, member = await _locked_hold(connection, hold_id)
            now = domain.utc_now()  # after the lock: a hold may run out while its capture waits for the member
            status = hold.status_at(now)
            if status == "captured":
                entry = await store.get_entry(connection, hold.capture_entry_id) if hold.capture_entry_id else None
                return HoldResult(hold, status, duplicate=True, entry=entry)
            if status != "held":
                raise FailedPrecondition(f"hold_id: the hold is {status}, it cannot be captured")
            # Another hold that ran out may have freed points a refund is owed: they settle it, not this capture.
            await settlement.settle_freed(connection, member, now)
            lots = await lots_store.open_lots(connection, hold.member_id)
            holds = await lots_store.open_holds(connection, hold.member_id, now)
            draws = ledger.draws_to_capture(
                lots, holds, ledger.OpenHold(hold.hold_id, hold.points, hold.created_at, hold.seen_seq), now
            )
            entry = await store.insert_entry(
                connection,
                member_id=hold.member_id,
                kind="redemption",
                points=-hold.points,
                idempotency_key=f"capture:{hold.hold_id}",
                description=f"redeemed: {hold.description or hold.idempotency_key}",
            )
            await lots_store.apply_draws(connection, entry.entry_id, draws)
            captured = await lots_store.settle_hold(connection, hold.hold_id, "captured", now, entry.entry_id)
            redeemed = events.PointsRedeemed(
                member_id=hold.member_id,
                points=hold.points,
                hold_id=str(hold.hold_id),
                ledger_entry_id=str(entry.entry_id),
                balance_after=await store.balance_of(connection, hold.member_id),
            )
            await _emit(connection, redeemed, hold.member_id, now)
            return HoldResult(captured, "captured", entry=entry)

    async def release(self, hold_id: str) -> HoldResult:
        async with unit_of_work(self._pool) as connection:
            hold, member = await _locked_hold(connection, hold_id)
            now = domain.utc_now()
            status = hold.status_at(now)
            if status == "captured":
                raise FailedPrecondition("hold_id: the hold is captured, it cannot be released")
            if status != "held":
                return HoldResult(hold, status, duplicate=True)
            released = await lots_store.settle_hold(connection, hold.hold_id, "released", now)
            await settlement.settle_freed(connection, member, now)
            return HoldResult(released, "released")

    async def adjust(self, member_id: str, points: int, reason: str, actor: str, idempotency_key: str) -> AdjustResult:
        require_member_id(member_id)
        ledger.validate_adjustment(points, idempotency_key, reason, actor)
        key = ledger.adjustment_key(idempotency_key)
        description = ledger.described(reason, actor)
        async with unit_of_work(self._pool) as connection:
            member = await _member(connection, member_id, lock=True)
            now = domain.utc_now()
            previous = await _previous_adjustment(connection, key, idempotency_key)
            if previous is not None:
                # A repeat is the same adjustment: another reason or actor (the entry keeps them in its
                # description) is another adjustment, which answered duplicate would never be applied.
                if (previous.member_id, previous.points, previous.description) != (member_id, points, description):
                    raise AlreadyExists(_ADJUSTMENT_KEY_TAKEN)
                return AdjustResult(previous, duplicate=True)
            domain.require_open(member_id, member.status)
            with taken_concurrently({"ledger_entries_idempotency_key_key"}, _ADJUSTMENT_KEY_TAKEN):
                entry = await self._adjustment_entry(connection, member, points, key, description, now)
            if points > 0:
                await settlement.settle_spent_refunds(connection, member, entry, now, overdraft_only=True)
            adjusted = events.PointsAdjusted(
                member_id=member_id,
                points=points,
                reason=reason,
                actor=actor,
                ledger_entry_id=str(entry.entry_id),
                balance_after=await store.balance_of(connection, member_id),
            )
            await _emit(connection, adjusted, member_id, now)
            return AdjustResult(entry, duplicate=False)

    async def _adjustment_entry(
        self,
        connection: asyncpg.Connection,
        member: store.MemberRow,
        points: int,
        key: str,
        description: str,
        now: datetime,
    ) -> store.EntryRow:
        """A credit's entry and lot, its points expiring on the program's fixed term as any earned now; or a debit's
        entry drawing the points that expire first (never those holds reserve)."""
        if points > 0:
            credit = lots_store.NewCredit(
                member_id=member.member_id,
                kind="adjustment",
                points=points,
                idempotency_key=key,
                description=description,
                earned_at=now,
                expires_at=await self._programs.term_of_credit(connection, now),
            )
            return await lots_store.insert_credit(connection, credit)
        await settlement.settle_freed(connection, member, now)
        lots, holds, overdrawn = await _books(connection, member.member_id, now)
        ledger.require_available(ledger.balances(lots, holds, now, overdrawn), -points)
        draws = ledger.draw_first_expiring(lots, -points, now, ledger.reserved_by_lot(lots, holds))
        entry = await store.insert_entry(
            connection,
            member_id=member.member_id,
            kind="adjustment",
            points=points,
            idempotency_key=key,
            description=description,
        )
        await lots_store.apply_draws(connection, entry.entry_id, draws)
        return entry

    async def return_captured(
        self, hold_id: str, idempotency_key: str, reason: str, actor: str
    ) -> hold_returns.ReturnResult:
        """ReturnCapturedHold (services/points/hold_returns.py), the hold's member locked first."""
        ledger.validate_return(hold_id, idempotency_key, reason, actor)
        async with unit_of_work(self._pool) as connection:
            hold, member = await _locked_hold(connection, hold_id)
            giving = hold_returns.Giving(idempotency_key, reason, actor)
            return await hold_returns.return_hold(connection, hold, member, giving, domain.utc_now())


async def _previous_adjustment(connection: asyncpg.Connection, key: str, idempotency_key: str) -> store.EntryRow | None:
    """The adjustment the key made; ALREADY_EXISTS when it returned a captured hold (one namespace of keys: a
    cancellation's give-back under a key is made once, whichever of the two calls makes it)."""
    previous = await store.find_entry_by_key(connection, key)
    if previous is None and await lots_store.hold_returns_of(connection, None, idempotency_key):
        raise AlreadyExists(hold_returns.KEY_TAKEN)
    return previous


async def _member(connection: asyncpg.Connection, member_id: str, *, lock: bool) -> store.MemberRow:
    member = await store.get_member(connection, member_id, lock=lock)
    if member is None:
        raise NotFound(f"member_id: member {member_id!r} is not enrolled")
    return member


async def _books(
    connection: asyncpg.Connection, member_id: str, now: datetime
) -> tuple[list[ledger.Lot], list[ledger.OpenHold], int]:
    """The member's open lots, open holds and points overdrawn."""
    lots = await lots_store.open_lots(connection, member_id)
    holds = await lots_store.open_holds(connection, member_id, now)
    overdrawn = await connection.fetchval("SELECT points_overdrawn FROM members WHERE member_id = $1", member_id)
    return lots, holds, overdrawn or 0


async def _balances(connection: asyncpg.Connection, member_id: str, now: datetime) -> ledger.Balances:
    lots, holds, overdrawn = await _books(connection, member_id, now)
    return ledger.balances(lots, holds, now, overdrawn)


async def _locked_hold(connection: asyncpg.Connection, hold_id: str) -> tuple[lots_store.HoldRow, store.MemberRow]:
    """The hold, read again after locking its member so no concurrent operation changes it, and the member."""
    try:
        parsed = uuid.UUID(hold_id)
    except ValueError:
        raise InvalidArgument.single("hold_id", f"must be {ledger.HOLD_ID_SHAPE}") from None
    hold = await lots_store.get_hold(connection, parsed)
    if hold is None:
        raise NotFound(f"hold_id: no hold {hold_id!r}")
    member = await _member(connection, hold.member_id, lock=True)
    locked = await lots_store.get_hold(connection, parsed)
    assert locked is not None  # holds are never deleted
    return locked, member


async def _emit(connection: asyncpg.Connection, event: Message, member_id: str, now: datetime) -> None:
    await add_event(
        connection, POINTS_EVENTS_TOPIC, new_envelope(event, subject=member_id, source=SOURCE, occurred_at=now)
    )
