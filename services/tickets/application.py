"""Ticket use cases, one unit of work each: open, read, list, messages, assign, resolve, reopen, goodwill approval."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg
from loyalty.events.v1 import tickets_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable, Violations
from services.common.member_tiers import require_open, tier_of
from services.tickets import agents_store, domain, paging, records_store, store
from services.tickets.agents import Agent
from services.tickets.assignment import assign_to, drain_queue, drain_queue_if_left, lock_routing, need_of, route
from services.tickets.claims import ALREADY_CREDITED, UNVERIFIED, CreditLookup
from services.tickets.domain import NewTicket, Ticket
from services.tickets.goodwill import GoodwillRequest
from services.tickets.goodwill import validate as validate_goodwill
from services.tickets.goodwill_application import approve_goodwill, request_goodwill
from services.tickets.policy import Policy
from services.tickets.ticket_events import emit, emit_breaches_marked, ticket_opened

Clock = Callable[[], datetime]
MAX_PAGE = 500
DEFAULT_PAGE = 100

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    claim: store.ClaimRow | None = None
    goodwill: records_store.GoodwillRow | None = None
    survey: records_store.SurveyRow | None = None
    messages: tuple[store.MessageRow, ...] = ()


def page_size(requested: int, field: str = "page_size") -> int:
    if not 0 <= requested <= MAX_PAGE:
        violations = Violations()
        violations.add(field, f"must be between 1 and {MAX_PAGE} (0 for {DEFAULT_PAGE})")
        violations.raise_if_any()
    return requested or DEFAULT_PAGE


async def locked_ticket(connection: asyncpg.Connection, ticket_id: str) -> Ticket:
    ticket = await store.get_ticket(connection, domain.parse_ticket_id(ticket_id), lock=True)
    if ticket is None:
        raise NotFound(f"ticket_id: no ticket {ticket_id!r}")
    return ticket


async def existing_agent(connection: asyncpg.Connection, agent_id: str, field: str) -> Agent:
    violations = Violations()
    domain.require_id(violations, field, agent_id)
    violations.raise_if_any()
    agent = await agents_store.get_agent(connection, agent_id)
    if agent is None:
        raise NotFound(f"{field}: no agent {agent_id!r}")
    return agent


def _ids_checked(ticket_id: str, *agent_ids: tuple[str, str]) -> Violations:
    """Every problem of a request's ticket id and agent ids (field, value), before any is looked up."""
    violations = Violations()
    domain.require_ticket_id(violations, ticket_id)
    for field, agent_id in agent_ids:
        domain.require_id(violations, field, agent_id)
    return violations


def _require_ids(ticket_id: str, *agent_ids: tuple[str, str]) -> None:
    _ids_checked(ticket_id, *agent_ids).raise_if_any()


class TicketsApplication:
    def __init__(self, pool: asyncpg.Pool, policy: Policy, credits: CreditLookup, now: Clock = utc_now) -> None:
        self._pool = pool
        self._policy = policy
        self._credits = credits
        self._now = now

    async def open(self, new: NewTicket, violations: Violations | None = None) -> TicketView:
        """`violations` may hold what the caller found already (unknown enum values), reported together."""
        violations = violations or Violations()
        domain.validate_new_ticket(new, violations)
        violations.raise_if_any()
        tier = await tier_of(self._pool, new.member_id)
        # Asked before the transaction: no database connection waits on another service.
        check = await self._credits.check(new.claim, new.member_id) if new.claim else None
        now = self._now()
        ticket = domain.opened(new, uuid.uuid4(), tier, self._policy, now)
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            await emit(connection, ticket_opened(ticket), ticket.member_id, now)
            ticket = await route(connection, ticket, need_of(ticket), "routing", now)
            await store.insert_ticket(connection, ticket, new.claim, check)
            return await ticket_view(connection, ticket)

    async def get(self, ticket_id: str) -> TicketView:
        async with self._pool.acquire() as connection:
            ticket = await store.get_ticket(connection, domain.parse_ticket_id(ticket_id))
            if ticket is None:
                raise NotFound(f"ticket_id: no ticket {ticket_id!r}")
            return await ticket_view(connection, ticket, with_messages=True)

    async def list(self, query: store.TicketFilter, page_token: str) -> tuple[list[Ticket], str]:
        """A page of the tickets `query` matches, newest first, and the next page's token."""
        violations = Violations()
        if query.member_id:
            domain.require_id(violations, "member_id", query.member_id)
        if query.assignee:
            domain.require_id(violations, "assignee", query.assignee)
        violations.raise_if_any()
        after = paging.list_position(page_token, query)
        async with self._pool.acquire() as connection:
            rows = await store.list_tickets(connection, replace(query, limit=query.limit + 1), after)
        page, last = paging.page_and_last(rows, query.limit)
        return page, paging.list_token(query, last)

    async def add_message(
        self,
        ticket_id: str,
        author: str,
        author_id: str,
        body: str,
        *,
        awaiting_member: bool,
        violations: Violations | None = None,
    ) -> TicketView:
        """`violations` may hold what the caller found already (an unknown author value), reported together."""
        violations = violations or Violations()
        domain.require_ticket_id(violations, ticket_id)
        domain.require_id(violations, "author_id", author_id)
        domain.require_text(violations, "body", body, domain.MAX_BODY, lines=True)
        if awaiting_member and author != "agent" and not violations.about("author"):
            violations.add("awaiting_member", "only an agent message can await the member")
        violations.raise_if_any()
        async with unit_of_work(self._pool) as connection:
            before = await locked_ticket(connection, ticket_id)
            # Read under the ticket's lock: a reply and the SLA job judge the same due time in the order they commit.
            now = self._now()
            hours = self._policy.hours(before.hours)
            if author == "agent":
                await existing_agent(connection, author_id, "author_id")
                ticket = domain.agent_replied(before, hours, now, awaiting_member=awaiting_member)
            else:
                if author_id != before.member_id:
                    raise FailedPrecondition(f"author_id: {author_id!r} is not the member of this ticket")
                ticket = domain.member_replied(before, hours, now)
            await store.insert_message(connection, ticket.ticket_id, author, author_id, body, now)
            await store.update_ticket(connection, ticket)
            await emit_breaches_marked(connection, before, ticket, now)
            return await ticket_view(connection, ticket, with_messages=True)

    async def assign(self, ticket_id: str, agent_id: str) -> TicketView:
        _require_ids(ticket_id, ("agent_id", agent_id))
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            ticket = await locked_ticket(connection, ticket_id)
            now = self._now()
            agent = await existing_agent(connection, agent_id, "agent_id")
            domain.require_not_resolved(ticket)
            previous = ticket.assignee
            ticket = await assign_to(connection, ticket, agent, now)
            await store.update_ticket(connection, ticket)
            await drain_queue_if_left(connection, previous, ticket, now)
            return await ticket_view(connection, ticket)

    async def resolve(self, ticket_id: str, agent_id: str, resolution: str, goodwill: GoodwillRequest) -> TicketView:
        violations = _ids_checked(ticket_id, ("agent_id", agent_id))
        domain.require_text(violations, "resolution", resolution, domain.MAX_BODY, lines=True)
        validate_goodwill(goodwill, violations)
        violations.raise_if_any()
        if goodwill.points:
            await self._check_claim_again(ticket_id, "goodwill_points")
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            before = await locked_ticket(connection, ticket_id)
            now = self._now()
            agent = await existing_agent(connection, agent_id, "agent_id")
            ticket = domain.resolved(before, self._policy.hours(before.hours), now, resolution)
            await emit_breaches_marked(connection, before, ticket, now)
            if goodwill.points:
                await self._require_goodwill_allowed(connection, ticket, "goodwill_points")
                await request_goodwill(connection, ticket, agent, goodwill, self._policy.goodwill, now)
            await store.update_ticket(connection, ticket)
            await records_store.issue_survey(connection, ticket.ticket_id, now)
            resolved_event = events.TicketResolved(
                ticket_id=str(ticket.ticket_id),
                member_id=ticket.member_id,
                agent_id=agent.agent_id,
                sla_breached=ticket.breached,
                goodwill_points=goodwill.points,
            )
            await emit(connection, resolved_event, ticket.member_id, now)
            # The resolving agent may have room for a queued ticket now.
            await drain_queue(connection, now)
            return await ticket_view(connection, ticket)

    async def _check_claim_again(self, ticket_id: str, field: str) -> None:
        """Ask the points service again about a claim not found credited when the ticket opened.

        The points may have arrived since (a partner's late file) or the service may not have answered then:
        goodwill on top of them would pay the member twice. Asked before the transaction; what it says is kept.
        No answer now refuses the call (UNAVAILABLE) before anything is written: the check from opening is
        exactly what may be out of date.
        """
        parsed = domain.parse_ticket_id(ticket_id)
        async with self._pool.acquire() as connection:
            ticket = await store.get_ticket(connection, parsed)
            claim = await store.get_claim(connection, parsed)
        if ticket is None or claim is None or claim.check.status == ALREADY_CREDITED:
            return
        if not claim.claim.names_its_transaction:
            return  # nothing to ask the points service about
        try:
            check = await self._credits.check(claim.claim, ticket.member_id)
        except InvalidArgument as refused:
            # Points' rules for the claim changed since it was accepted: its check stands as it was.
            log.warning("claim not checked again", extra={"ticket_id": ticket_id, "reason": refused.message})
            return
        if check.status == UNVERIFIED:
            raise Unavailable(
                f"{field}: the claim could not be checked again with the points service, so no goodwill was "
                "granted and nothing was written; retry"
            )
        if check.status != claim.check.status:
            async with unit_of_work(self._pool) as connection:
                await store.update_claim_check(connection, parsed, check)

    async def _require_goodwill_allowed(self, connection: asyncpg.Connection, ticket: Ticket, field: str) -> None:
        """Goodwill for a missing-points claim stands for the missing points: paid at most once per purchase.

        A grant still waiting for approval holds nothing back: whichever grant for the claim is granted first
        stands, and the member's lock makes two tickets' grants for one claim take turns.
        A closed member is refused any: the points service would dead-letter the grant and credit nothing, while
        the grant here would read as paid.
        """
        await require_open(connection, ticket.member_id, "no goodwill can be credited")
        claim = await store.get_claim(connection, ticket.ticket_id)
        if claim is None:
            return
        if claim.check.status == ALREADY_CREDITED:
            raise FailedPrecondition(f"{field}: the claimed purchase was already credited by the points service")
        if not claim.claim.names_its_transaction:
            return
        await records_store.lock_members_goodwill(connection, ticket.member_id)
        other = await records_store.goodwill_for_same_claim(connection, ticket.ticket_id, ticket.member_id, claim.claim)
        if other is not None:
            raise FailedPrecondition(f"{field}: ticket {other} already has goodwill granted for the same claim")

    async def reopen(self, ticket_id: str) -> TicketView:
        async with unit_of_work(self._pool) as connection:
            await lock_routing(connection)
            ticket = await locked_ticket(connection, ticket_id)
            now = self._now()
            ticket = domain.reopened(ticket, self._policy.hours(ticket.hours), now)
            ticket = await route(connection, ticket, need_of(ticket), "routing", now)
            await store.update_ticket(connection, ticket)
            return await ticket_view(connection, ticket)

    async def approve_goodwill(self, ticket_id: str, approver_id: str) -> TicketView:
        _require_ids(ticket_id, ("approver_agent_id", approver_id))
        # The points may have arrived while the grant waited for approval, as well as before it was asked for.
        await self._check_claim_again(ticket_id, "ticket_id")
        async with unit_of_work(self._pool) as connection:
            ticket = await locked_ticket(connection, ticket_id)
            now = self._now()
            approver = await existing_agent(connection, approver_id, "approver_agent_id")
            await self._require_goodwill_allowed(connection, ticket, "ticket_id")
            await approve_goodwill(connection, ticket, approver, self._policy.goodwill, now)
            return await ticket_view(connection, ticket)


async def ticket_view(connection: asyncpg.Connection, ticket: Ticket, *, with_messages: bool = False) -> TicketView:
    """The ticket with its claim, goodwill and survey (and its messages, when asked), as every answer shows it."""
    return TicketView(
        ticket=ticket,
        claim=await store.get_claim(connection, ticket.ticket_id),
        goodwill=await records_store.get_goodwill(connection, ticket.ticket_id),
        survey=await records_store.get_survey(connection, ticket.ticket_id),
        messages=tuple(await store.messages(connection, ticket.ticket_id)) if with_messages else (),
    )
