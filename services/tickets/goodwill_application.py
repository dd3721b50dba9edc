"""Goodwill grants in the caller's transaction: within limits granted at once, above them approved by a second agent.

A granted grant becomes a GoodwillGranted event in the outbox; the points
service credits it once per ticket. The grant row is the audit trail: who
asked, who approved, when, why and how much.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from loyalty.events.v1 import tickets_pb2 as events

from services.common.errors import FailedPrecondition, NotFound
from services.common.events import timestamp
from services.tickets import records_store, store
from services.tickets.agents import Agent
from services.tickets.domain import Ticket
from services.tickets.goodwill import GoodwillRequest, over_limit, require_approver_authority, require_second_agent
from services.tickets.policy import GoodwillLimits
from services.tickets.records_store import GoodwillRow
from services.tickets.ticket_events import emit


async def request_goodwill(
    connection: asyncpg.Connection,
    ticket: Ticket,
    agent: Agent,
    request: GoodwillRequest,
    limits: GoodwillLimits,
    now: datetime,
) -> None:
    if await records_store.get_goodwill(connection, ticket.ticket_id) is not None:
        raise FailedPrecondition("goodwill_points: the ticket already has a goodwill grant (one per ticket)")
    over = over_limit(request.points, agent.goodwill_limit, limits)
    grant = GoodwillRow(
        points=request.points,
        reason=request.reason,
        granted_by=agent.agent_id,
        approved_by=None,
        over_limit=over,
        status="pending_approval" if over else "granted",
        requested_at=now,
        granted_at=None if over else now,
    )
    await records_store.insert_goodwill(connection, ticket.ticket_id, grant)
    if not over:
        await _emit_granted(connection, ticket, grant, now)


async def approve_goodwill(
    connection: asyncpg.Connection, ticket: Ticket, approver: Agent, limits: GoodwillLimits, now: datetime
) -> None:
    grant = await records_store.get_goodwill(connection, ticket.ticket_id, lock=True)
    if grant is None:
        raise NotFound(f"ticket_id: ticket {ticket.ticket_id} has no goodwill grant")
    if grant.status == "granted":
        raise FailedPrecondition("ticket_id: the ticket's goodwill is already granted")
    require_second_agent(grant.granted_by, approver.agent_id)
    require_approver_authority(grant.points, approver.agent_id, approver.goodwill_limit, limits)
    await records_store.approve_goodwill(connection, ticket.ticket_id, approver.agent_id, now)
    approved = await records_store.get_goodwill(connection, ticket.ticket_id)
    assert approved is not None
    await _emit_granted(connection, ticket, approved, now)


async def _emit_granted(connection: asyncpg.Connection, ticket: Ticket, grant: GoodwillRow, now: datetime) -> None:
    claimed = await store.get_claim(connection, ticket.ticket_id)
    # Goodwill on a claim stands for the claimed points: the points service pays the claimed transaction, if it
    # arrives later, only what exceeds it.
    claim = claimed.claim if claimed is not None and claimed.claim.names_its_transaction else None
    granted = events.GoodwillGranted(
        ticket_id=str(ticket.ticket_id),
        member_id=ticket.member_id,
        points=grant.points,
        reason=grant.reason,
        granted_by=grant.granted_by,
        approved_by=grant.approved_by or "",
        granted_at=timestamp(now),
        claim_purchase_id=claim.purchase_id if claim else "",
        claim_partner_id=claim.partner_id if claim else "",
        claim_partner_transaction_id=claim.partner_transaction_id if claim else "",
    )
    await emit(connection, granted, ticket.member_id, now)
