"""Goodwill from the tickets service: GoodwillGranted on `tickets.events.v1` credited once per ticket.

The inbox drops a redelivered event; the ticket id guards against the same
grant arriving in a second event (a replay or a republished outbox row). The
credit is an adjustment entry with its spendable lot (the AdjustPoints credit
path: its points expire on the program's fixed term counted from the credit),
keyed `goodwill:<ticket id>`, and `goodwill_credits` ties the entry to
the ticket with who granted and approved it, and the claim it settles when
the ticket claimed missing points: that purchase or partner transaction, if it
arrives later, earns only what exceeds the goodwill (services/points/goodwill_claims.py). Arrived already
(the grant's event came late), the goodwill credits only what exceeds what it earned, and nothing at all
when that is none: the grant is kept with no entry and announces no PointsAdjusted.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import points_pb2 as points_events
from loyalty.events.v1 import tickets_pb2 as ticket_events
from loyalty.events.v1.envelope_pb2 import EventEnvelope

from services.common.errors import NotFound, Violations, required_as
from services.common.event_consumer import EventConsumer
from services.common.events import new_envelope, occurred_at
from services.common.kafka import POINTS_EVENTS_TOPIC, TICKETS_EVENTS_TOPIC
from services.common.member_ids import check_member_id
from services.common.outbox import add_event
from services.common.settings import KafkaSettings
from services.common.text_fields import check_line
from services.points import domain, goodwill_claims, lots_store, settlement, store
from services.points.program_application import ProgramApplication

log = logging.getLogger(__name__)

SOURCE = "loyalty.points"
MAX_GOODWILL_POINTS = 10_000_000
# The entry's description carries them, and every ledger page the entry: the tickets service's own limit.
MAX_REASON = 500
MAX_AGENT = 128
# Purchase and partner transaction ids are at most 128 characters, partner ids 64.
MAX_CLAIMED_ID = 128


def idempotency_key(ticket_id: str) -> str:
    return f"goodwill:{ticket_id}"


def validate_grant(grant: ticket_events.GoodwillGranted) -> None:
    violations = Violations()
    if not grant.ticket_id or len(grant.ticket_id) > 64:
        violations.add("ticket_id", required_as(grant.ticket_id, "at most 64 characters"))
    check_member_id(violations, "member_id", grant.member_id)
    if not 0 < grant.points <= MAX_GOODWILL_POINTS:
        violations.add("points", f"must be between 1 and {MAX_GOODWILL_POINTS}")
    check_line(violations, "reason", grant.reason, max_length=MAX_REASON, required=True)
    check_line(violations, "granted_by", grant.granted_by, max_length=MAX_AGENT, required=True)
    check_line(violations, "approved_by", grant.approved_by, max_length=MAX_AGENT)
    _check_claim(violations, grant)
    violations.raise_if_any()


def _check_claim(violations: Violations, grant: ticket_events.GoodwillGranted) -> None:
    """A claim names a purchase, or a partner with its transaction, or nothing (not a claim, or an older event)."""
    for name in ("claim_purchase_id", "claim_partner_id", "claim_partner_transaction_id"):
        check_line(violations, name, getattr(grant, name), max_length=MAX_CLAIMED_ID)
    if bool(grant.claim_partner_id) != bool(grant.claim_partner_transaction_id):
        violations.add("claim_partner_transaction_id", "goes with claim_partner_id, both or neither")
    if grant.claim_purchase_id and grant.claim_partner_id:
        violations.add("claim_purchase_id", "must be empty when the claim names a partner transaction")


def description(grant: ticket_events.GoodwillGranted) -> str:
    approval = f", approved by {grant.approved_by}" if grant.approved_by else ""
    return f"goodwill on ticket {grant.ticket_id}: {grant.reason} (by {grant.granted_by}{approval})"


async def credit_goodwill(
    connection: asyncpg.Connection, envelope: EventEnvelope, payload: Message, *, programs: ProgramApplication
) -> None:
    """Credit the grant once per ticket; its points expire on the fixed term of the program in force, as any
    points credited now (`programs` says which)."""
    assert isinstance(payload, ticket_events.GoodwillGranted)
    validate_grant(payload)
    member = await store.get_member(connection, payload.member_id, lock=True)
    if member is None:
        raise NotFound(f"member_id: member {payload.member_id!r} is not enrolled")
    if await connection.fetchval("SELECT 1 FROM goodwill_credits WHERE ticket_id = $1", payload.ticket_id):
        return  # this ticket's goodwill was credited by an earlier event
    domain.require_open(member.member_id, member.status)  # dead-lettered with the reason, as an unknown member is
    now = domain.utc_now()
    claim = await _claim_settled(connection, payload)
    # The claim may have been credited after the tickets service checked it and before this event got here.
    earned = await goodwill_claims.earned_before(connection, payload.member_id, *claim)
    expires_at = await programs.term_of_credit(connection, now)
    entry = await _credit(connection, member, payload, earned, expires_at, now)
    # Kept even when nothing was credited: the ticket's grant is handled, and a replay of it credits nothing.
    await connection.execute(
        """INSERT INTO goodwill_credits
               (ticket_id, member_id, entry_id, points, reason, granted_by, approved_by, granted_at, event_id,
                claim_purchase_id, claim_partner_id, claim_partner_transaction_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        payload.ticket_id,
        payload.member_id,
        entry.entry_id if entry else None,
        payload.points,
        payload.reason,
        payload.granted_by,
        payload.approved_by,
        occurred_at(envelope),
        envelope.event_id,
        *claim,
    )
    if entry is not None:
        await _announce(connection, payload, entry, now)


async def _credit(
    connection: asyncpg.Connection,
    member: store.MemberRow,
    grant: ticket_events.GoodwillGranted,
    earned: goodwill_claims.Earned | None,
    expires_at: datetime | None,
    now: datetime,
) -> store.EntryRow | None:
    """The goodwill's entry, less what the claim already earned; None when that leaves nothing to credit."""
    already = earned.points if earned else 0
    points = grant.points - already
    if points <= 0:
        log.info(
            "goodwill for a claim already credited in full",
            extra={"ticket_id": grant.ticket_id, "granted": grant.points, "earned": already},
        )
        return None
    text = description(grant)
    if earned and already > 0:
        text = f"{text}, less {already} points {earned.what} already earned"
    entry = await lots_store.insert_credit(
        connection,
        lots_store.NewCredit(
            member_id=grant.member_id,
            kind="adjustment",
            points=points,
            idempotency_key=idempotency_key(grant.ticket_id),
            description=text,
            earned_at=now,
            expires_at=expires_at,
        ),
    )
    await settlement.settle_spent_refunds(connection, member, entry, now, overdraft_only=True)
    return entry


async def _announce(
    connection: asyncpg.Connection, grant: ticket_events.GoodwillGranted, entry: store.EntryRow, now: datetime
) -> None:
    """PointsAdjusted for the points credited (the liability insights keeps grows by these, not by the grant)."""
    adjusted = points_events.PointsAdjusted(
        member_id=grant.member_id,
        points=entry.points,
        reason=entry.description,
        actor=grant.granted_by,
        ledger_entry_id=str(entry.entry_id),
        balance_after=await store.balance_of(connection, grant.member_id),
    )
    envelope_out = new_envelope(adjusted, subject=grant.member_id, source=SOURCE, occurred_at=now)
    await add_event(connection, POINTS_EVENTS_TOPIC, envelope_out)


async def _claim_settled(
    connection: asyncpg.Connection, grant: ticket_events.GoodwillGranted
) -> tuple[str | None, str | None, str | None]:
    """The claim the credit settles: (purchase id, partner id, partner transaction id), NULL where not named.

    The tickets service grants goodwill once per claim of a member; should a second grant for a claim already
    settled arrive all the same, it is credited (the agent granted it) but settles nothing more, and is logged.
    """
    named = (grant.claim_purchase_id, grant.claim_partner_id, grant.claim_partner_transaction_id)
    claim = (named[0] or None, named[1] or None, named[2] or None)
    if claim == (None, None, None):
        return claim
    other = await connection.fetchval(
        """SELECT ticket_id FROM goodwill_credits
            WHERE member_id = $1 AND (claim_purchase_id = $2
                                      OR (claim_partner_id = $3 AND claim_partner_transaction_id = $4))""",
        grant.member_id,
        *claim,
    )
    if other is None:
        return claim
    log.warning(
        "goodwill for a claim already settled by another ticket",
        extra={"ticket_id": grant.ticket_id, "settled_by": other},
    )
    return None, None, None


def goodwill_consumer(
    pool: asyncpg.Pool, kafka: KafkaSettings, programs: ProgramApplication | None = None
) -> EventConsumer:
    credit = functools.partial(credit_goodwill, programs=programs or ProgramApplication(pool))
    return EventConsumer(
        name="points.goodwill",
        topic=TICKETS_EVENTS_TOPIC,
        pool=pool,
        kafka=kafka,
        handlers={ticket_events.GoodwillGranted.DESCRIPTOR.full_name: credit},
    )
