"""SQL for goodwill grants, surveys and the facts service metrics are computed from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.tickets.domain import Claim
from services.tickets.metrics import SurveyAnswer, TicketFacts


@dataclass(frozen=True)
class GoodwillRow:
    points: int
    reason: str
    granted_by: str
    approved_by: str | None
    over_limit: str
    status: str
    requested_at: datetime
    granted_at: datetime | None


@dataclass(frozen=True)
class SurveyRow:
    issued_at: datetime
    effort: int | None
    satisfaction: int | None
    recommend: int | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class MetricsFilter:
    start: datetime
    end: datetime
    tier: str
    agent_id: str
    category: str


_GOODWILL_COLUMNS = "points, reason, granted_by, approved_by, over_limit, status, requested_at, granted_at"


async def insert_goodwill(connection: asyncpg.Connection, ticket_id: uuid.UUID, grant: GoodwillRow) -> None:
    await connection.execute(
        f"""INSERT INTO goodwill_grants (ticket_id, {_GOODWILL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        ticket_id,
        grant.points,
        grant.reason,
        grant.granted_by,
        grant.approved_by,
        grant.over_limit,
        grant.status,
        grant.requested_at,
        grant.granted_at,
    )


async def get_goodwill(
    connection: asyncpg.Connection, ticket_id: uuid.UUID, *, lock: bool = False
) -> GoodwillRow | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await connection.fetchrow(
        f"SELECT {_GOODWILL_COLUMNS} FROM goodwill_grants WHERE ticket_id = $1{suffix}", ticket_id
    )
    return GoodwillRow(**record) if record else None


async def goodwill_for_same_claim(
    connection: asyncpg.Connection, ticket_id: uuid.UUID, member_id: str, claim: Claim
) -> uuid.UUID | None:
    """Another ticket of the member's, claiming the same purchase or partner transaction, with goodwill granted."""
    other: uuid.UUID | None = await connection.fetchval(
        """SELECT t.ticket_id FROM tickets t JOIN goodwill_grants g USING (ticket_id)
            WHERE g.status = 'granted' AND t.member_id = $1 AND t.ticket_id <> $2 AND t.claim_purchase_id = $3
              AND t.claim_partner_id IS NOT DISTINCT FROM $4
              AND t.claim_partner_transaction_id IS NOT DISTINCT FROM $5
            LIMIT 1""",
        member_id,
        ticket_id,
        claim.purchase_id,
        claim.partner_id or None,
        claim.partner_transaction_id or None,
    )
    return other


# First key of the two-key advisory lock on a member's goodwill (the second is the hash of the member id): two
# keys, so that no member's hash can ever stand for the one-key routing lock.
_GOODWILL_LOCK = 0x600D


async def lock_members_goodwill(connection: asyncpg.Connection, member_id: str) -> None:
    """Until the transaction ends, no other grant for the member is asked for or approved."""
    await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _GOODWILL_LOCK, member_id)


async def approve_goodwill(connection: asyncpg.Connection, ticket_id: uuid.UUID, approver: str, now: datetime) -> None:
    await connection.execute(
        """UPDATE goodwill_grants SET approved_by = $2, status = 'granted', granted_at = $3
            WHERE ticket_id = $1 AND status = 'pending_approval'""",
        ticket_id,
        approver,
        now,
    )


async def issue_survey(connection: asyncpg.Connection, ticket_id: uuid.UUID, now: datetime) -> None:
    """Issued once per ticket: a ticket resolved again after a reopen keeps its first survey."""
    await connection.execute(
        "INSERT INTO surveys (ticket_id, issued_at) VALUES ($1, $2) ON CONFLICT (ticket_id) DO NOTHING", ticket_id, now
    )


async def get_survey(connection: asyncpg.Connection, ticket_id: uuid.UUID, *, lock: bool = False) -> SurveyRow | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await connection.fetchrow(
        f"SELECT issued_at, effort, satisfaction, recommend, submitted_at FROM surveys WHERE ticket_id = $1{suffix}",
        ticket_id,
    )
    return SurveyRow(**record) if record else None


async def submit_survey(
    connection: asyncpg.Connection, ticket_id: uuid.UUID, answer: SurveyAnswer, now: datetime
) -> None:
    await connection.execute(
        """UPDATE surveys SET effort = $2, satisfaction = $3, recommend = $4, submitted_at = $5
            WHERE ticket_id = $1 AND submitted_at IS NULL""",
        ticket_id,
        answer.effort,
        answer.satisfaction,
        answer.recommend,
        now,
    )


_METRICS_WHERE = """
     WHERE t.opened_at >= $1 AND t.opened_at < $2
       AND ($3 = '' OR t.tier = $3) AND ($4 = '' OR t.assignee = $4) AND ($5 = '' OR t.category = $5)
"""


async def metrics_facts(
    connection: asyncpg.Connection, query: MetricsFilter
) -> tuple[list[TicketFacts], list[SurveyAnswer]]:
    """SLA facts of the tickets opened in the window that match, and their submitted survey answers."""
    arguments = (query.start, query.end, query.tier, query.agent_id, query.category)
    tickets = await connection.fetch(
        f"""SELECT t.opened_at, t.first_responded_at, t.first_response_breached, t.resolved_at, t.resolution_breached
              FROM tickets t {_METRICS_WHERE}""",
        *arguments,
    )
    answers = await connection.fetch(
        f"""SELECT s.effort, s.satisfaction, s.recommend
              FROM tickets t JOIN surveys s ON s.ticket_id = t.ticket_id
              {_METRICS_WHERE} AND s.submitted_at IS NOT NULL""",
        *arguments,
    )
    return [TicketFacts(**r) for r in tickets], [SurveyAnswer(**r) for r in answers]
