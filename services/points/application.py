"""Points use cases: each runs the domain inside one unit of work and writes its events to the outbox."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from loyalty.events.v1 import points_pb2 as events

from services.common import page_tokens
from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from services.common.events import new_envelope, timestamp
from services.common.group_commit import GroupCommit
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.member_ids import require_member_id
from services.common.outbox import add_event
from services.points import bonuses, domain, store, tier_application, tiers
from services.points.program_application import ProgramApplication
from services.points.purchases import Outcome, PurchaseRecorder, PurchaseRequest, PurchaseResult, conflict_keys
from services.points.refunds import RefundApplication

SOURCE = "loyalty.points"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class EntriesPage:
    entries: list[store.EntryRow]
    next_page_token: str


class PointsApplication:
    def __init__(self, pool: asyncpg.Pool, points_per_unit: int, programs: ProgramApplication | None = None) -> None:
        self._pool = pool
        self._programs = programs or ProgramApplication(pool)
        self._recorder = PurchaseRecorder(self._programs, points_per_unit, RefundApplication(pool, self._programs))
        # Concurrent purchases share transactions: see services/common/group_commit.py.
        self._purchases: GroupCommit[PurchaseRequest, PurchaseResult] = GroupCommit(
            "record_purchase", self._record_batch, conflict_keys=conflict_keys
        )

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
        require_member_id(member_id)
        async with self._pool.acquire() as connection:
            member = await store.get_member(connection, member_id)
        if member is None:
            raise NotFound(f"member_id: member {member_id!r} is not enrolled")
        return member

    async def tier_progress(self, member_id: str) -> tuple[tiers.Progress, tiers.Requalification | None] | None:
        """Where the member stands in the qualifying window now, and in the one the next requalification judges."""
        now = domain.utc_now()
        async with self._pool.acquire() as connection:
            member = await store.get_member(connection, member_id)
            version = await self._programs.in_force_in(connection, None, now)
            if member is None or version is None or version.program.tiers is None:
                return None
            program, policy = version.program, version.program.tiers
            value = await tier_application.qualifying_value(connection, member_id, program, now)
            requalify_at = await connection.fetchval("SELECT requalify_at FROM members WHERE member_id = $1", member_id)
            requalification = None
            if requalify_at is not None:
                judged = await tier_application.values_judged_at(connection, program, {member_id: requalify_at})
                requalification = tiers.requalification(policy, member.tier, requalify_at, judged[member_id])
        return tiers.progress(policy, member.tier, value), requalification

    async def record_purchase(self, purchase: domain.Purchase) -> PurchaseResult:
        """Earn points for a purchase once; a repeated purchase id returns the first result."""
        return await self._purchases.submit(PurchaseRequest(purchase))

    async def record_purchase_in(self, connection: asyncpg.Connection, purchase: domain.Purchase) -> PurchaseResult:
        """record_purchase inside a transaction the caller owns (a consumer's inbox transaction)."""
        (outcome,) = await self._recorder.record_in(connection, [PurchaseRequest(purchase)])
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _record_batch(self, requests: list[PurchaseRequest]) -> list[Outcome]:
        async with unit_of_work(self._pool) as connection:
            return await self._recorder.record_in(connection, requests)

    async def entries(self, member_id: str, page_size: int, page_token: str) -> EntriesPage:
        await self.member(member_id)
        if not 0 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument.single("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        limit = page_size or DEFAULT_PAGE_SIZE
        async with self._pool.acquire() as connection:
            rows = await store.list_entries(
                connection, member_id, before_seq=_before_seq(member_id, page_token), limit=limit + 1
            )
        next_token = page_tokens.issue([member_id], [str(rows[limit - 1].seq)]) if len(rows) > limit else ""
        return EntriesPage(rows[:limit], next_token)


# Ledger positions are bigint.
MAX_SEQ = 2**63 - 1


def _before_seq(member_id: str, page_token: str) -> int | None:
    """The ledger position (entries before it) a ListLedgerEntries token names; None for the first page."""
    position = page_tokens.read(page_token, [member_id], size=1)
    if position is None:
        return None
    if not (position[0].isascii() and position[0].isdigit() and int(position[0]) <= MAX_SEQ):
        raise InvalidArgument.single("page_token", page_tokens.NOT_A_TOKEN)
    return int(position[0])
