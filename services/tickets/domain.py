"""Tickets domain: a ticket's life (open, replies, waiting on the member, resolve, reopen, breach). Pure.

Functions take a Ticket and the moment and return the changed Ticket; the
application writes it. The SLA clocks follow the ticket's policy hours: the
first agent reply stops the first-response clock, waiting on the member
pauses the resolution clock, resolving stops it and reopening restarts it
with what was left of its budget.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from services.common.errors import FailedPrecondition, InvalidArgument, Violations, required_as
from services.common.text_fields import check_line, check_lines
from services.tickets.policy import Escalation, Policy, raised
from services.tickets.sla import Hours, ResolutionClock, add_working, started

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2}")
TRANSACTION_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")
_ID_SHAPE = "1-128 printable ASCII characters without spaces"  # as the points service keeps purchase ids
PARTNER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_PARTNER_ID_SHAPE = "1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
MAX_SUBJECT = 200
MAX_BODY = 10_000
OPEN, WAITING, RESOLVED = "open", "waiting_on_member", "resolved"
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"


@dataclass(frozen=True)
class Claim:
    purchase_id: str
    partner_id: str
    partner_transaction_id: str
    expected_points: int

    @property
    def names_its_transaction(self) -> bool:
        """False for a partner claim kept before migration 003: what it claimed is not known."""
        return bool(self.purchase_id or self.partner_id)


@dataclass(frozen=True)
class NewTicket:
    member_id: str
    category: str
    channel: str
    subject: str
    description: str
    language: str
    claim: Claim | None


@dataclass(frozen=True)
class Ticket:
    ticket_id: uuid.UUID
    member_id: str
    tier: str
    category: str
    channel: str
    subject: str
    description: str
    language: str
    priority: str
    status: str
    assignee: str | None
    required_skill: str
    sla_policy: str
    hours: str
    opened_at: datetime
    first_response_due: datetime | None
    first_responded_at: datetime | None
    first_response_breached: bool
    resolution_budget_s: float
    resolution_used_s: float
    resolution_running_since: datetime | None
    resolution_due: datetime | None
    resolution_breached: bool
    resolved_at: datetime | None
    resolution: str
    queued_at: datetime | None

    @property
    def clock(self) -> ResolutionClock:
        return ResolutionClock(self.resolution_budget_s, self.resolution_used_s, self.resolution_running_since)

    @property
    def breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached


def _ticket_id_problem(value: str) -> str | None:
    if not value:
        return "is required"
    try:
        uuid.UUID(value)
    except ValueError:
        return "must be a ticket id returned by OpenTicket"
    return None


def parse_ticket_id(value: str, field: str = "ticket_id") -> uuid.UUID:
    if problem := _ticket_id_problem(value):
        raise InvalidArgument.single(field, problem)
    return uuid.UUID(value)


def require_ticket_id(violations: Violations, value: str, field: str = "ticket_id") -> None:
    if problem := _ticket_id_problem(value):
        violations.add(field, problem)


def require_id(violations: Violations, field: str, value: str) -> None:
    if not value:
        violations.add(field, "is required")
    elif not ID_PATTERN.fullmatch(value):
        violations.add(field, "must be 1-64 of letters, digits, '-', '_', '.', ':'")


def require_text(
    violations: Violations, field: str, value: str, maximum: int, *, required: bool = True, lines: bool = False
) -> None:
    """One line of text (several with `lines`), at most `maximum` characters."""
    check = check_lines if lines else check_line
    check(violations, field, value, max_length=maximum, required=required)


def validate_new_ticket(ticket: NewTicket, violations: Violations) -> None:
    """Records every problem of an OpenTicket request; categories and channels are checked by the caller."""
    require_id(violations, "member_id", ticket.member_id)
    require_text(violations, "subject", ticket.subject, MAX_SUBJECT)
    require_text(violations, "description", ticket.description, MAX_BODY, required=False, lines=True)
    if not LANGUAGE_PATTERN.fullmatch(ticket.language):
        violations.add("language", "must be a 2-letter lower-case language code such as 'en'")
    # An empty category was already reported by the caller that read it.
    is_claim = ticket.category == "missing_points"
    if is_claim and ticket.claim is None:
        violations.add("claim", "is required for a missing-points ticket")
    elif ticket.category and not is_claim and ticket.claim is not None:
        violations.add("claim", "is only allowed on a missing-points ticket")
    if ticket.claim is not None:
        _validate_claim(ticket.claim, violations)


def _validate_claim(claim: Claim, violations: Violations) -> None:
    if claim.partner_id or claim.partner_transaction_id:
        if claim.purchase_id:
            violations.add("claim.purchase_id", "must be empty when the claim names a partner transaction")
        if not PARTNER_ID_PATTERN.fullmatch(claim.partner_id):
            violations.add("claim.partner_id", required_as(claim.partner_id, _PARTNER_ID_SHAPE))
        if not TRANSACTION_PATTERN.fullmatch(claim.partner_transaction_id):
            violations.add("claim.partner_transaction_id", required_as(claim.partner_transaction_id, _ID_SHAPE))
    elif not TRANSACTION_PATTERN.fullmatch(claim.purchase_id):
        shape = _ID_SHAPE if claim.purchase_id else f"{_ID_SHAPE} (or partner_id and partner_transaction_id)"
        violations.add("claim.purchase_id", required_as(claim.purchase_id, shape))
    if claim.expected_points < 0:
        violations.add("claim.expected_points", "must not be negative")


def opened(new: NewTicket, ticket_id: uuid.UUID, tier: str, policy: Policy, now: datetime) -> Ticket:
    sla = policy.sla_for(tier, new.category)
    hours = policy.hours(sla.hours)
    clock = started(sla.resolution_minutes * 60.0, now)
    return Ticket(
        ticket_id=ticket_id,
        member_id=new.member_id,
        tier=tier,
        category=new.category,
        channel=new.channel,
        subject=new.subject,
        description=new.description,
        language=new.language,
        priority=sla.priority,
        status=OPEN,
        assignee=None,
        required_skill=policy.skills[new.category],
        sla_policy=sla.name,
        hours=sla.hours,
        opened_at=now,
        first_response_due=add_working(hours, now, sla.first_response_minutes * 60.0),
        first_responded_at=None,
        first_response_breached=False,
        resolution_budget_s=clock.budget_s,
        resolution_used_s=clock.used_s,
        resolution_running_since=clock.running_since,
        resolution_due=clock.due(hours),
        resolution_breached=False,
        resolved_at=None,
        resolution="",
        queued_at=now,
    )


def _with_clock(ticket: Ticket, clock: ResolutionClock, hours: Hours) -> Ticket:
    return replace(
        ticket,
        resolution_used_s=clock.used_s,
        resolution_running_since=clock.running_since,
        resolution_due=clock.due(hours),
    )


def require_not_resolved(ticket: Ticket) -> None:
    if ticket.status == RESOLVED:
        raise FailedPrecondition("ticket_id: the ticket is resolved; reopen it first")


def _first_response_late(ticket: Ticket, now: datetime) -> bool:
    return (
        ticket.first_responded_at is None and ticket.first_response_due is not None and now > ticket.first_response_due
    )


def _paused(ticket: Ticket, hours: Hours, now: datetime) -> Ticket:
    """The resolution clock stopped; a budget it had already overrun counts as breached, whenever the job runs.

    Past the due time is overrun too, as the job judges it: a budget that ends at closing time is used up, not
    overrun, in the closed hours after it, yet the ticket is late.
    """
    clock = ticket.clock.paused(hours, now)
    past_due = ticket.resolution_due is not None and now > ticket.resolution_due
    late = clock.used_s > clock.budget_s or past_due
    return replace(_with_clock(ticket, clock, hours), resolution_breached=ticket.resolution_breached or late)


def agent_replied(ticket: Ticket, hours: Hours, now: datetime, *, awaiting_member: bool) -> Ticket:
    require_not_resolved(ticket)
    if ticket.first_responded_at is None:
        late = _first_response_late(ticket, now)
        ticket = replace(ticket, first_responded_at=now, first_response_breached=ticket.first_response_breached or late)
    if awaiting_member:
        ticket = replace(_paused(ticket, hours, now), status=WAITING)
    return ticket


def member_replied(ticket: Ticket, hours: Hours, now: datetime) -> Ticket:
    require_not_resolved(ticket)
    if ticket.status != WAITING:
        return ticket
    return replace(_with_clock(ticket, ticket.clock.resumed(now), hours), status=OPEN)


def resolved(ticket: Ticket, hours: Hours, now: datetime, resolution: str) -> Ticket:
    """Both clocks stop. Unanswered, the first response was breached if its due time passed, else it is due no more
    (a reopened ticket does not breach it later)."""
    require_not_resolved(ticket)
    first_response_due = ticket.first_response_due
    first_response_breached = ticket.first_response_breached or _first_response_late(ticket, now)
    if ticket.first_responded_at is None and not first_response_breached:
        first_response_due = None
    return replace(
        _paused(ticket, hours, now),
        status=RESOLVED,
        resolved_at=now,
        resolution=resolution,
        first_response_due=first_response_due,
        first_response_breached=first_response_breached,
        queued_at=None,
    )


def reopened(ticket: Ticket, hours: Hours, now: datetime) -> Ticket:
    if ticket.status != RESOLVED:
        raise FailedPrecondition("ticket_id: only a resolved ticket can be reopened")
    restarted = _with_clock(ticket, ticket.clock.resumed(now), hours)
    return replace(restarted, status=OPEN, resolved_at=None, resolution="", assignee=None, queued_at=now)


def requeued(ticket: Ticket, now: datetime) -> Ticket:
    """Taken from its assignee and waiting in the queue again, from now."""
    return replace(ticket, assignee=None, queued_at=now)


def due_breaches(ticket: Ticket, now: datetime) -> list[tuple[str, datetime]]:
    """The SLAs whose due time passed and that were not yet marked breached, with their due times."""
    if ticket.status == RESOLVED:
        return []
    breaches = []
    fr_due = ticket.first_response_due
    if fr_due is not None and ticket.first_responded_at is None and not ticket.first_response_breached and now > fr_due:
        breaches.append((FIRST_RESPONSE, fr_due))
    if ticket.resolution_due is not None and not ticket.resolution_breached and now > ticket.resolution_due:
        breaches.append((RESOLUTION, ticket.resolution_due))
    return breaches


def breaches_marked(before: Ticket, after: Ticket) -> list[tuple[str, datetime]]:
    """The SLAs `after` marks breached that `before` did not, with their due times (a reply, pause or resolution
    that came after a due time the SLA job had not yet seen)."""
    marked = []
    if after.first_response_breached and not before.first_response_breached and before.first_response_due:
        marked.append((FIRST_RESPONSE, before.first_response_due))
    if after.resolution_breached and not before.resolution_breached and before.resolution_due:
        marked.append((RESOLUTION, before.resolution_due))
    return marked


def escalated(ticket: Ticket, slas: list[str], escalation: Escalation) -> Ticket:
    """Breached SLAs marked and the priority raised by the escalation policy."""
    return replace(
        ticket,
        first_response_breached=ticket.first_response_breached or FIRST_RESPONSE in slas,
        resolution_breached=ticket.resolution_breached or RESOLUTION in slas,
        priority=raised(ticket.priority, escalation.raise_priority_steps),
    )
