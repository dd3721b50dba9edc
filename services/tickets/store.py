"""SQL for tickets, their messages and claims."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime

import asyncpg

from services.tickets.domain import Claim, Ticket

_TICKET_FIELDS = [f.name for f in fields(Ticket)]
_TICKET_COLUMNS = ", ".join(_TICKET_FIELDS)
# Everything but the id and what never changes after opening.
_MUTABLE = [
    name
    for name in _TICKET_FIELDS
    if name not in {"ticket_id", "member_id", "tier", "category", "channel", "subject", "description", "opened_at"}
]


def _queue_rank(priority: str) -> str:
    """A priority's place in the queue, urgent first; as the queue's index (migration 005) has it."""
    return f"array_position(ARRAY['urgent', 'high', 'normal', 'low'], {priority})"


# Total (the ticket id last), so that a page of the queue can start after a ticket.
_QUEUE_ORDER = f"{_queue_rank('priority')}, queued_at, ticket_id"


@dataclass(frozen=True)
class ClaimCheck:
    status: str
    credited_points: int
    ledger_entry_id: str


@dataclass(frozen=True)
class ClaimRow:
    claim: Claim
    check: ClaimCheck


@dataclass(frozen=True)
class MessageRow:
    author: str
    author_id: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class TicketFilter:
    member_id: str
    assignee: str
    status: str
    breached_only: bool
    limit: int


@dataclass(frozen=True)
class ListPosition:
    """A ticket's place in ListTickets' order: newest first, then by ticket id descending."""

    opened_at: datetime
    ticket_id: uuid.UUID


@dataclass(frozen=True)
class QueuePosition:
    """A ticket's place in the queue's order: highest priority first, then longest waiting, then ticket id."""

    priority: str
    queued_at: datetime
    ticket_id: uuid.UUID


async def insert_ticket(
    connection: asyncpg.Connection, ticket: Ticket, claim: Claim | None, check: ClaimCheck | None
) -> None:
    values = list(astuple(ticket))
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await connection.execute(f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ({placeholders})", *values)
    if claim is not None and check is not None:
        await connection.execute(
            """UPDATE tickets SET claim_purchase_id = $2, claim_partner_id = $3, claim_partner_transaction_id = $4,
                      claim_expected_points = $5, claim_status = $6, claim_credited_points = $7,
                      claim_ledger_entry_id = $8
                WHERE ticket_id = $1""",
            ticket.ticket_id,
            claim.purchase_id,
            claim.partner_id or None,
            claim.partner_transaction_id or None,
            claim.expected_points,
            check.status,
            check.credited_points,
            check.ledger_entry_id,
        )


async def update_claim_check(connection: asyncpg.Connection, ticket_id: uuid.UUID, check: ClaimCheck) -> None:
    await connection.execute(
        """UPDATE tickets SET claim_status = $2, claim_credited_points = $3, claim_ledger_entry_id = $4
            WHERE ticket_id = $1 AND claim_status IS NOT NULL""",
        ticket_id,
        check.status,
        check.credited_points,
        check.ledger_entry_id,
    )


async def update_ticket(connection: asyncpg.Connection, ticket: Ticket) -> None:
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(_MUTABLE, start=2))
    await connection.execute(
        f"UPDATE tickets SET {assignments} WHERE ticket_id = $1",
        ticket.ticket_id,
        *(getattr(ticket, name) for name in _MUTABLE),
    )


async def get_ticket(connection: asyncpg.Connection, ticket_id: uuid.UUID, *, lock: bool = False) -> Ticket | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await connection.fetchrow(f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE ticket_id = $1{suffix}", ticket_id)
    return Ticket(**record) if record else None


async def get_claim(connection: asyncpg.Connection, ticket_id: uuid.UUID) -> ClaimRow | None:
    record = await connection.fetchrow(
        """SELECT claim_purchase_id, claim_partner_id, claim_partner_transaction_id, claim_expected_points,
                  claim_status, claim_credited_points, claim_ledger_entry_id
             FROM tickets WHERE ticket_id = $1 AND claim_purchase_id IS NOT NULL""",
        ticket_id,
    )
    if record is None:
        return None
    claim = Claim(
        purchase_id=record["claim_purchase_id"],
        partner_id=record["claim_partner_id"] or "",
        partner_transaction_id=record["claim_partner_transaction_id"] or "",
        expected_points=record["claim_expected_points"],
    )
    check = ClaimCheck(record["claim_status"], record["claim_credited_points"], record["claim_ledger_entry_id"])
    return ClaimRow(claim, check)


async def list_tickets(connection: asyncpg.Connection, query: TicketFilter, after: ListPosition | None) -> list[Ticket]:
    """Up to `query.limit` tickets matching `query`, newest first, after `after` when given."""
    records = await connection.fetch(
        f"""SELECT {_TICKET_COLUMNS} FROM tickets
             WHERE ($1 = '' OR member_id = $1) AND ($2 = '' OR assignee = $2) AND ($3 = '' OR status = $3)
               AND (NOT $4 OR first_response_breached OR resolution_breached)
               AND ($6::timestamptz IS NULL OR (opened_at, ticket_id) < ($6, $7::uuid))
             ORDER BY opened_at DESC, ticket_id DESC
             LIMIT $5""",
        query.member_id,
        query.assignee,
        query.status,
        query.breached_only,
        query.limit,
        after.opened_at if after else None,
        after.ticket_id if after else None,
    )
    return [Ticket(**r) for r in records]


async def insert_message(
    connection: asyncpg.Connection, ticket_id: uuid.UUID, author: str, author_id: str, body: str, now: datetime
) -> None:
    await connection.execute(
        "INSERT INTO ticket_messages (ticket_id, author, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        ticket_id,
        author,
        author_id,
        body,
        now,
    )


async def messages(connection: asyncpg.Connection, ticket_id: uuid.UUID) -> list[MessageRow]:
    records = await connection.fetch(
        "SELECT author, author_id, body, created_at FROM ticket_messages WHERE ticket_id = $1 ORDER BY message_id",
        ticket_id,
    )
    return [MessageRow(**r) for r in records]


async def queued(connection: asyncpg.Connection, limit: int, after: QueuePosition | None) -> list[Ticket]:
    """Tickets waiting for an agent, in queue order, after `after` when given."""
    records = await connection.fetch(
        f"""SELECT {_TICKET_COLUMNS} FROM tickets
             WHERE queued_at IS NOT NULL
               AND ($2::text IS NULL
                    OR ({_QUEUE_ORDER}) > ({_queue_rank("$2::text")}, $3::timestamptz, $4::uuid))
             ORDER BY {_QUEUE_ORDER}
             LIMIT $1""",
        limit,
        after.priority if after else None,
        after.queued_at if after else None,
        after.ticket_id if after else None,
    )
    return [Ticket(**r) for r in records]


async def queued_for(connection: asyncpg.Connection, agent_ids: Sequence[str], limit: int) -> list[Ticket]:
    """Queued tickets, in queue order, that one of the agents has the skill, language and tier for, locked.

    Tickets nobody among them can take are passed over in the database, so however many of those wait
    ahead, a ticket someone can take is found. Locked and read as committed after the lock: a message that
    changed a ticket meanwhile is seen.
    """
    records = await connection.fetch(
        f"""SELECT {_TICKET_COLUMNS} FROM tickets t
             WHERE t.queued_at IS NOT NULL
               AND EXISTS (SELECT FROM agents a JOIN agent_skills s ON s.agent_id = a.agent_id
                            WHERE a.agent_id = ANY($1::text[]) AND s.skill = t.required_skill
                              AND t.language = ANY(a.languages)
                              AND (cardinality(a.tiers) = 0 OR t.tier = ANY(a.tiers)))
             ORDER BY {_QUEUE_ORDER}
             LIMIT $2
             FOR UPDATE OF t""",
        list(agent_ids),
        limit,
    )
    return [Ticket(**r) for r in records]


async def assign_queued(connection: asyncpg.Connection, assignments: Sequence[tuple[uuid.UUID, str]]) -> None:
    """Queued tickets given to agents (ticket id, agent id), in one statement."""
    await connection.execute(
        """UPDATE tickets SET assignee = u.agent_id, queued_at = NULL
             FROM unnest($1::uuid[], $2::text[]) AS u(ticket_id, agent_id) WHERE tickets.ticket_id = u.ticket_id""",
        [ticket_id for ticket_id, _ in assignments],
        [agent_id for _, agent_id in assignments],
    )


@dataclass(frozen=True)
class BreachCandidate:
    ticket_id: uuid.UUID
    opened_at: datetime


async def breach_candidates(
    connection: asyncpg.Connection, now: datetime, limit: int, *, after: BreachCandidate | None = None
) -> list[BreachCandidate]:
    """Unresolved tickets with a due time passed and not yet marked breached, oldest first (after `after`)."""
    records = await connection.fetch(
        """SELECT ticket_id, opened_at FROM tickets
            WHERE status <> 'resolved'
              AND ((first_responded_at IS NULL AND NOT first_response_breached AND first_response_due < $1)
                   OR (NOT resolution_breached AND resolution_due < $1))
              AND ($3::timestamptz IS NULL OR (opened_at, ticket_id) > ($3, $4::uuid))
            ORDER BY opened_at, ticket_id
            LIMIT $2""",
        now,
        limit,
        after.opened_at if after else None,
        after.ticket_id if after else None,
    )
    return [BreachCandidate(**r) for r in records]
