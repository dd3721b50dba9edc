"""Events the tickets service emits on `tickets.events.v1`, written to the outbox in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from google.protobuf.message import Message
from loyalty.events.v1 import tickets_pb2 as events

from services.common.events import new_envelope, new_envelopes, timestamp
from services.common.kafka import TICKETS_EVENTS_TOPIC
from services.common.outbox import add_event, add_events
from services.tickets.domain import Ticket, breaches_marked

SOURCE = "loyalty.tickets"


async def emit(connection: asyncpg.Connection, event: Message, member_id: str, now: datetime) -> None:
    envelope = new_envelope(event, subject=member_id, source=SOURCE, occurred_at=now)
    await add_event(connection, TICKETS_EVENTS_TOPIC, envelope)


async def emit_all(connection: asyncpg.Connection, events_of: Sequence[tuple[Message, str]], now: datetime) -> None:
    """emit for many (event, member id) pairs, in one statement."""
    envelopes = new_envelopes(events_of, source=SOURCE, occurred_at=now)
    await add_events(connection, TICKETS_EVENTS_TOPIC, envelopes)


def ticket_opened(ticket: Ticket) -> events.TicketOpened:
    event = events.TicketOpened(
        ticket_id=str(ticket.ticket_id),
        member_id=ticket.member_id,
        tier=ticket.tier,
        category=ticket.category,
        priority=ticket.priority,
    )
    if ticket.first_response_due is not None:
        event.first_response_due.CopyFrom(timestamp(ticket.first_response_due))
    if ticket.resolution_due is not None:
        event.resolution_due.CopyFrom(timestamp(ticket.resolution_due))
    return event


def sla_breached(ticket: Ticket, sla: str, due_at: datetime) -> events.TicketSlaBreached:
    return events.TicketSlaBreached(
        ticket_id=str(ticket.ticket_id),
        member_id=ticket.member_id,
        sla=sla,
        due_at=timestamp(due_at),
        priority=ticket.priority,
        agent_id=ticket.assignee or "",
    )


async def emit_breaches_marked(connection: asyncpg.Connection, before: Ticket, after: Ticket, now: datetime) -> None:
    """TicketSlaBreached for each SLA a reply, pause or resolution found breached before the SLA job did.

    The ticket is not escalated: it is being worked (or is done), which is what escalating asks for.
    """
    for sla, due_at in breaches_marked(before, after):
        await emit(connection, sla_breached(after, sla, due_at), after.member_id, now)
