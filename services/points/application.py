"""Points use cases: each runs the domain inside one unit of work and writes its events to the outbox."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.events import new_envelope, timestamp
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_event
from services.points import (
    bonuses,
    domain,
    pricing,
    referrals,
    settlement,
    store,
    tier_application,
    tiers,
)
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class PurchaseResult:
    points_earned: int
    entry: store.EntryRow | None
    duplicate: bool
    balance: int
    # How it was priced; None for a repeated purchase id (the entry keeps the breakdown).
    priced: pricing.Priced | None = None


@dataclass(frozen=True)
class EntriesPage:
    entries: list[store.EntryRow]
    next_page_token: str


class PointsApplication:
    def __init__(self, pool: asyncpg.Pool, points_per_unit: int, programs: ProgramApplication | None = None) -> None:
        self._pool = pool
        # The flat rate prices purchases until a program is applied.
        self._points_per_unit = points_per_unit
        self._programs = programs or ProgramApplication(pool)

    async def enroll(self, enrollment: domain.Enrollment) -> store.MemberRow:
        domain.validate_enrollment(enrollment)
        async with unit_of_work(self._pool) as connection:
            version = await self._programs.in_force_in(connection, None, domain.utc_now())
            tiers_policy = version.program.tiers if version else None
            entry_tier = tiers_policy.levels[0].name if tiers_policy else domain.DEFAULT_TIER
            if enrollment.referrer_member_id and not await store.get_member(connection, enrollment.referrer_member_id):
                raise NotFound(f"referrer_member_id: member {enrollment.referrer_member_id!r} is not enrolled")
            member = await store.insert_member(connection, enrollment, entry_tier)
            if member is None:
                raise AlreadyExists(f"member {enrollment.member_id!r} is already enrolled")
            event = events.MemberEnrolled(
                member_id=member.member_id,
                tier=member.tier,
                enrolled_at=timestamp(member.enrolled_at),
                birth_date=enrollment.birth_date,
                referrer_member_id=enrollment.referrer_member_id,
                given_name=enrollment.given_name,
                email_on_file=bool(enrollment.email),
            )
            envelope = new_envelope(event, subject=member.member_id, source=SOURCE, occurred_at=member.enrolled_at)
            await add_event(connection, POINTS_EVENTS_TOPIC, envelope)
            if version is not None:
                await bonuses.credit_signup(connection, member, version.program)
            return member

    async def record_activity(self, record: bonuses.ActivityRecord) -> bonuses.ActivityResult:
        """Credit a configured activity (newsletter opt-in, review written) within its limit."""
        return await bonuses.record_activity(self._pool, self._programs, record)

    async def member(self, member_id: str) -> store.MemberRow:
        domain.require_member_id(member_id)
        async with self._pool.acquire() as connection:
            member = await store.get_member(connection, member_id)
        if member is None:
            raise NotFound(f"member_id: member {member_id!r} is not enrolled")
        return member

    async def tier_progress(self, member_id: str) -> tuple[tiers.Progress, datetime | None] | None:
        """Where the member stands in the qualifying window now, and when the tier is requalified."""
        now = domain.utc_now()
        async with self._pool.acquire() as connection:
            member = await store.get_member(connection, member_id)
            version = await self._programs.in_force_in(connection, None, now)
            if member is None or version is None or version.program.tiers is None:
                return None
            value = await tier_application.qualifying_value(connection, member_id, version.program, now)
            requalify_at = await connection.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", member_id)
        return tiers.progress(version.program.tiers, member.tier, value), requalify_at

    async def record_purchase(self, purchase: domain.Purchase) -> PurchaseResult:
        """Earn points for a purchase once; a repeated purchase id returns the first result."""
        async with unit_of_work(self._pool) as connection:
            return await self.record_purchase_in(connection, purchase)

    async def record_purchase_in(self, connection: asyncpg.Connection, purchase: domain.Purchase) -> PurchaseResult:
        """record_purchase inside a transaction the caller owns (a consumer's inbox transaction)."""
        domain.validate_purchase(purchase, domain.utc_now())
        member, previous = await store.member_and_purchase(connection, purchase.member_id, purchase.purchase_id)
        if member is None:
            raise NotFound(f"member_id: member {purchase.member_id!r} is not enrolled")
        if previous is not None:
            return await _repeat_of(connection, previous, member)
        priced = await pricing.price(
            connection, self._programs, purchase, member_tier=member.tier, flat_rate=self._points_per_unit
        )
        recorded, entry = await store.insert_purchase_earning(
            connection,
            purchase,
            points=priced.points,
            description=priced.description(),
            breakdown=priced.breakdown_json(),
            earned_at=purchase.occurred_at,
            available_at=priced.available_at,
            expires_at=priced.expires_at,
        )
        if not recorded:
            # Recorded by a transaction that committed while this one waited for the member lock.
            concurrent = await store.find_purchase(connection, purchase.purchase_id)
            assert concurrent is not None
            return await _repeat_of(connection, concurrent, member)
        balance = member.balance + priced.points
        if entry is not None:
            balance -= await settlement.settle_spent_refunds(connection, member, entry)
        await tier_application.move_after_activity(connection, member, priced.program, domain.utc_now())
        if entry is not None:
            await _emit_points_earned(connection, entry, purchase, balance)
        balance += await referrals.pay_referral(connection, member, purchase, priced.points, priced.program, balance)
        return PurchaseResult(priced.points, entry, duplicate=False, balance=balance, priced=priced)

    async def entries(self, member_id: str, page_size: int, page_token: str) -> EntriesPage:
        await self.member(member_id)
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        limit = page_size or DEFAULT_PAGE_SIZE
        async with self._pool.acquire() as connection:
            rows = await store.list_entries(
                connection, member_id, before_seq=_decode_page_token(page_token), limit=limit + 1
            )
        next_token = _encode_page_token(rows[limit - 1].seq) if len(rows) > limit else ""
        return EntriesPage(rows[:limit], next_token)


async def _repeat_of(
    connection: asyncpg.Connection, previous: store.PurchaseRow, member: store.MemberRow
) -> PurchaseResult:
    if previous.member_id != member.member_id:
        raise AlreadyExists("purchase_id: already recorded for another member")
    entry = await store.get_entry(connection, previous.entry_id) if previous.entry_id else None
    return PurchaseResult(previous.points_earned, entry, duplicate=True, balance=member.balance)


async def _emit_points_earned(
    connection: asyncpg.Connection, entry: store.EntryRow, purchase: domain.Purchase, balance: int
) -> None:
    event = events.PointsEarned(
        member_id=entry.member_id,
        points=entry.points,
        ledger_entry_id=str(entry.entry_id),
        reason="purchase",
        source_reference=purchase.purchase_id,
        balance_after=balance,
    )
    envelope = new_envelope(event, subject=entry.member_id, source=SOURCE, occurred_at=entry.created_at)
    await add_event(connection, POINTS_EVENTS_TOPIC, envelope)


def _encode_page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def _decode_page_token(token: str) -> int | None:
    if not token:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "seq" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidArgument.single("page_token", "is not a token returned by ListLedgerEntries")
