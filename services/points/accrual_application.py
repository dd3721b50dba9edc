"""Partner accrual intake: a batch of records, decided and written in one transaction, answered per record.

The same use case serves the gRPC stream, the unary call and the Kafka
consumer, so both ways in have one semantics. A batch is all or nothing in
the database: if anything fails nothing is written, and the partner resends
and gets the same answers (accepted ones then answer DUPLICATE with the
points they credited).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
from loyalty.events.v1 import points_pb2 as events
from loyalty.events.v1.envelope_pb2 import EventEnvelope
from opentelemetry import context as otel_context

from services.common.db import unit_of_work
from services.common.errors import InvalidArgument, Unauthenticated
from services.common.events import new_envelope
from services.common.ids import new_id
from services.common.kafka import POINTS_EVENTS_TOPIC
from services.common.outbox import add_events
from services.common.tracing import within
from services.points import accrual_store, domain, goodwill_claims, partners_store, settlement, store, tier_application
from services.points.expiry import expire_on_arrival
from services.points.partner_accrual import (
    MAX_BATCH,
    Decision,
    MemberFacts,
    RawRecord,
    Record,
    Status,
    decide,
    parse,
)
from services.points.program import Program
from services.points.program_application import ProgramApplication

SOURCE = "loyalty.points"


def key_hash(api_key: str) -> bytes:
    """Keys are long random secrets, so a plain SHA-256 is enough to keep only a hash."""
    return hashlib.sha256(api_key.encode()).digest()


class AccrualApplication:
    def __init__(self, pool: asyncpg.Pool, programs: ProgramApplication) -> None:
        self._pool = pool
        self._programs = programs

    async def partner_of_key(self, api_key: str) -> str:
        """The partner an API key belongs to; Unauthenticated for a missing, unknown or revoked key."""
        if not api_key:
            raise Unauthenticated("authorization: a partner key is required (authorization: Bearer <key>)")
        async with self._pool.acquire() as connection:
            partner_id = await partners_store.partner_of_key(connection, key_hash(api_key))
        if partner_id is None:
            raise Unauthenticated("authorization: the key is unknown or revoked")
        return partner_id

    async def ingest(
        self,
        partner_id: str,
        raws: Sequence[RawRecord],
        *,
        api_key: str | None = None,
        kafka_messages: Sequence[str] | None = None,
        traces: Sequence[otel_context.Context] | None = None,
    ) -> list[Decision]:
        """Decide and write a batch for a partner authenticated by the caller.

        `kafka_messages` names the message each record came in (partner.accruals.v1), recorded with its answer.
        `traces` is the trace each record came in (each message on Kafka carries its own), which the PointsEarned
        of its points continues; without them, every record's is the current one (the call's).

        With `api_key`, the key is checked again in the batch's transaction: a
        stream authenticated when it opened takes no batch after its key was
        revoked. Not locked: a revoke must never wait for busy streams (share
        locks taken batch after batch starved it); a batch already past the
        check when the revoke commits is the last one written.
        """
        if not 1 <= len(raws) <= MAX_BATCH:
            raise InvalidArgument.single("records", f"a batch holds 1 to {MAX_BATCH} records")
        now = domain.utc_now()
        async with unit_of_work(self._pool) as connection:
            if api_key is not None and not await self._still_valid(connection, partner_id, api_key):
                raise Unauthenticated("authorization: the key was revoked")
            version = await self._programs.in_force_in(connection, None, now)
            program = version.program if version else None
            traces = traces or [otel_context.get_current()] * len(raws)
            decisions = await self._ingest_in(connection, partner_id, raws, traces, program, now)
            units = [raw.unit for raw in raws]
            await accrual_store.insert_results(connection, partner_id, decisions, units, kafka_messages)
            return decisions

    async def refuse_unread(self, partner_id: str, kafka_messages: Sequence[str]) -> None:
        """Log INVALID answers for the partner's Kafka messages that hold no record it may send (unreadable, or
        naming no partner or another one), with no transaction id, amount or unit: they count in its control totals.
        A message answered before (read again) is not logged again."""
        refused = [Decision("", Status.INVALID) for _ in kafka_messages]
        async with unit_of_work(self._pool) as connection:
            await accrual_store.insert_results(connection, partner_id, refused, [""] * len(refused), kafka_messages)

    async def answered_messages(self, kafka_messages: Sequence[str]) -> dict[str, str]:
        async with self._pool.acquire() as connection:
            return await accrual_store.answered_messages(connection, kafka_messages)

    @staticmethod
    async def _still_valid(connection: asyncpg.Connection, partner_id: str, api_key: str) -> bool:
        return await partners_store.partner_of_key(connection, key_hash(api_key)) == partner_id

    async def _ingest_in(
        self,
        connection: asyncpg.Connection,
        partner_id: str,
        raws: Sequence[RawRecord],
        traces: Sequence[otel_context.Context],
        program: Program | None,
        now: datetime,
    ) -> list[Decision]:
        # Activity dates are days of the program: its tier windows, expiry and calendar hold them.
        zone = program.zone if program else UTC
        parsed = [parse(raw, now.astimezone(zone).date(), zone) for raw in raws]
        valid = [item for item in parsed if isinstance(item, Record)]
        # Locked first, like every ledger write: a member's batches and purchases apply one after another.
        members = await store.lock_members(connection, sorted({record.member_id for record in valid}))
        rates = await partners_store.rates(connection, partner_id)
        ids = [record.partner_transaction_id for record in valid]
        facts = {m.member_id: MemberFacts(m.family_name, m.status == "active") for m in members.values()}
        before = await accrual_store.accepted_before(connection, partner_id, ids)
        claims = [(record.member_id, record.partner_transaction_id) for record in valid]
        settled = await goodwill_claims.settled_partner_transactions(connection, partner_id, claims)
        decisions = _less_goodwill(decide(parsed, raws, members=facts, accepted_before=before, rates=rates), settled)
        accepted = [d for d in decisions if d.status is Status.ACCEPTED]
        terms = await self._programs_at_activities(connection, accepted)
        # An id is accepted once in a batch: its first record's trace is the one its points are announced in.
        trace_of = {
            d.partner_transaction_id: t for d, t in zip(decisions, traces, strict=True) if d.status is Status.ACCEPTED
        }
        rows = [
            _accepted_row(partner_id, d, terms, program, now, settled.get(d.partner_transaction_id)) for d in accepted
        ]
        written = await accrual_store.insert_accepted(connection, partner_id, rows)
        if len(written) < len(rows):
            # Some ids were accepted by a concurrent batch meanwhile (for another member id): the batch is answered
            # as a resend of it would be, those ids being accepted before.
            lost = [row.partner_transaction_id for row in rows if row.partner_transaction_id not in written]
            before = {**before, **await accrual_store.accepted_before(connection, partner_id, lost)}
            decided = decide(parsed, raws, members=facts, accepted_before=before, rates=rates)
            decisions = _less_goodwill(decided, settled)
        credited = [row for row in rows if row.partner_transaction_id in written]
        # Before settling: points that arrive past their term repay no debt and cover no overdraft.
        expired = await expire_on_arrival(connection, [(row.member_id, row.expires_at) for row in credited], now)
        repaid = await _settle_spent_refunds(connection, members, credited, now)
        # What expired as it arrived is announced after the credits (PointsExpired), so not taken off their
        # balance_after; what settled a refund's debt is.
        taken = {member: repaid.get(member, 0) + expired.repaid(member) for member in members}
        earned = _earned_events(credited, members, taken, partner_id, trace_of, now)
        await add_events(connection, POINTS_EVENTS_TOPIC, [*earned, *expired.announced])
        touched = [members[member_id] for member_id in sorted({row.member_id for row in credited})]
        await tier_application.move_after_activities(connection, touched, program, now, spent=False)
        return decisions

    async def _programs_at_activities(
        self, connection: asyncpg.Connection, accepted: Sequence[Decision]
    ) -> dict[datetime, Program | None]:
        """The program in force at the start of each accepted activity's date, which gives its points their term as
        a purchase's occurred_at does (None before any program): one round trip for the batch's distinct days."""
        days = sorted({d.record.earned_at for d in accepted if d.record is not None})
        versions = await self._programs.in_force_at_each(connection, None, days)
        return {day: version.program if version else None for day, version in zip(days, versions, strict=True)}


def _less_goodwill(decisions: Sequence[Decision], settled: dict[str, goodwill_claims.Settled]) -> list[Decision]:
    """Each accepted record a claim's goodwill settled earns only what exceeds it, and so answers its repeats in
    the batch; a record accepted before answers what it earned then, already less the goodwill."""
    left: dict[str, int] = {}
    for decision in decisions:
        goodwill = settled.get(decision.partner_transaction_id)
        taken = goodwill.take_back(decision.points) if goodwill and decision.status is Status.ACCEPTED else None
        if taken is not None:
            left[decision.partner_transaction_id] = decision.points + taken.points
    return [
        replace(d, points=left[d.partner_transaction_id]) if d.partner_transaction_id in left else d for d in decisions
    ]


def _accepted_row(
    partner_id: str,
    decision: Decision,
    programs_at_activities: dict[datetime, Program | None],
    received_under: Program | None,
    received: datetime,
    goodwill: goodwill_claims.Settled | None,
) -> accrual_store.AcceptedRow:
    """The accrual's row: its points expire on the term of the program in force at the activity; a pending record
    waits the pending days of the program in force when it is received, counted from then (the partner may still
    cancel it from now on, however old the activity)."""
    record = decision.record
    assert record is not None
    earned_at = record.earned_at
    earned_under = programs_at_activities[earned_at]
    pending_until = received_under.available_at(received) if received_under and record.pending else received
    breakdown = [
        {"source": f"partner:{partner_id}", "points": decision.base_points, "description": _describe(record)},
    ]
    if decision.bonus_points:
        bonus = f"partner bonus: {record.bonus_amount} {record.unit}"
        breakdown.append(
            {"source": f"partner_bonus:{partner_id}", "points": decision.bonus_points, "description": bonus}
        )
    taken = goodwill.take_back(decision.base_points + decision.bonus_points) if goodwill else None
    if taken is not None:
        breakdown.append({"source": taken.source, "points": taken.points, "description": taken.description})
    return accrual_store.AcceptedRow(
        partner_transaction_id=record.partner_transaction_id,
        member_id=record.member_id,
        points=decision.points,
        entry_id=new_id() if decision.points else None,
        description=f"{partner_id} {record.activity_type} {record.partner_transaction_id}",
        breakdown=json.dumps(breakdown),
        earned_at=earned_at,
        available_at=pending_until,
        expires_at=earned_under.expires_at(earned_at) if earned_under else None,
    )


def _describe(record: Record) -> str:
    """The base part: the amount its points convert, without the bonus part (which its own part names)."""
    base = record.amount - record.bonus_amount
    return f"{record.activity_type} on {record.activity_date}: {base} {record.unit}"


def _earned_events(
    rows: Sequence[accrual_store.AcceptedRow],
    members: dict[str, store.MemberRow],
    taken: dict[str, int],
    partner_id: str,
    trace_of: dict[str, otel_context.Context],
    now: datetime,
) -> list[EventEnvelope]:
    """PointsEarned per credit, with each member's balance after the batch's credits so far, less what the batch
    took (debt repaid), in the trace its record came in (`trace_of`, by partner transaction id)."""
    balances = {member_id: member.balance - taken.get(member_id, 0) for member_id, member in members.items()}
    envelopes = []
    for row in rows:
        if row.entry_id is None:
            continue
        balances[row.member_id] += row.points
        event = events.PointsEarned(
            member_id=row.member_id,
            points=row.points,
            ledger_entry_id=str(row.entry_id),
            reason=f"partner:{partner_id}",
            source_reference=row.partner_transaction_id,
            balance_after=balances[row.member_id],
            partner_id=partner_id,
        )
        with within(trace_of[row.partner_transaction_id]):
            envelopes.append(new_envelope(event, subject=row.member_id, source=SOURCE, occurred_at=now))
    return envelopes


async def _settle_spent_refunds(
    connection: asyncpg.Connection,
    members: dict[str, store.MemberRow],
    rows: Sequence[accrual_store.AcceptedRow],
    now: datetime,
) -> dict[str, int]:
    """New points settle what refunds could not take back, as purchase earnings do (rare: one member at a time).

    Returns the points repaid by debt_repayment entries, by member.
    """
    repaid: dict[str, int] = {}
    for row in rows:
        before = members[row.member_id]
        if row.entry_id is None or not (before.points_owed or before.points_overdrawn):
            continue
        # Read again: an earlier credit of this batch may have settled part of it.
        member = await store.get_member(connection, row.member_id)
        entry = await store.get_entry(connection, row.entry_id)
        assert member is not None and entry is not None
        repaid[row.member_id] = repaid.get(row.member_id, 0) + await settlement.settle_spent_refunds(
            connection, member, entry, now
        )
    return repaid
