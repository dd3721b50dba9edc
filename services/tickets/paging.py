"""Page tokens of the tickets listings, ListTickets and the queue (GetQueue): each names the last ticket of a page.

A ticket listing is read one past the page, so a token is given only when another page has tickets.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common import page_tokens
from services.common.errors import InvalidArgument
from services.tickets.domain import Ticket
from services.tickets.policy import PRIORITIES
from services.tickets.store import ListPosition, QueuePosition, TicketFilter

# The queue takes no arguments; its name keeps a ListTickets token from reading as one of its own.
_QUEUE = ["queue"]


def page_and_last(rows: Sequence[Ticket], limit: int) -> tuple[list[Ticket], Ticket | None]:
    """The page in `rows` (read `limit` + 1), and its last ticket when a next page has more."""
    return list(rows[:limit]), rows[limit - 1] if len(rows) > limit else None


def _ticket_listing(query: TicketFilter) -> list[str]:
    return [query.member_id, query.assignee, query.status, str(query.breached_only)]


def list_position(token: str, query: TicketFilter) -> ListPosition | None:
    position = page_tokens.read_time_and_id(token, _ticket_listing(query))
    return None if position is None else ListPosition(*position)


def list_token(query: TicketFilter, last: Ticket | None) -> str:
    return page_tokens.issue_after(_ticket_listing(query), last.opened_at, last.ticket_id) if last else ""


def queue_position(token: str) -> QueuePosition | None:
    parts = page_tokens.read(token, _QUEUE, size=3)
    if parts is None:
        return None
    if parts[0] not in PRIORITIES:
        raise InvalidArgument.single("page_token", page_tokens.NOT_A_TOKEN)
    return QueuePosition(parts[0], *page_tokens.time_and_id(parts[1:]))


def queue_token(last: Ticket | None) -> str:
    if last is None:
        return ""
    assert last.queued_at is not None, "the queue lists only queued tickets"
    return page_tokens.issue(_QUEUE, [last.priority, last.queued_at.isoformat(), str(last.ticket_id)])
