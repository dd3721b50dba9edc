"""ListTickets and GetQueue page by token on real PostgreSQL: every ticket once, in order; a bad token refused."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc
import pytest
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common import page_tokens
from tests.integration.support import field_violations
from tests.integration.test_tickets_grpc import member, opening
from tests.integration.tickets_fixtures import TicketsPlatform, agent, platform

__all__ = ["platform"]

# Tickets opened at the same instant share their time: only the ticket id orders them.
SAME_INSTANT = 5


async def open_tickets(platform: TicketsPlatform, *tiers: str) -> list[str]:
    """Tickets (no agents, so all queued) of members of `tiers`, some opened at one instant, the rest later."""
    ids = []
    for index, tier in enumerate(tiers):
        if index >= SAME_INSTANT:
            platform.clock.advance(timedelta(minutes=1))
        someone = member()
        await platform.set_tier(someone, tier)
        ids.append((await platform.tickets.OpenTicket(opening(someone))).ticket.ticket_id)
    return ids


async def walk(read_page: Callable[[str], Awaitable[tuple[list[str], str]]]) -> list[str]:
    """Every ticket id of every page, following next_page_token until it is empty."""
    seen, token = [], ""
    for _ in range(100):
        ids, token = await read_page(token)
        seen += ids
        if not token:
            return seen
    raise AssertionError("the pages never ended")


async def test_list_tickets_pages_reach_every_ticket_once_newest_first(platform: TicketsPlatform) -> None:
    opened = await open_tickets(platform, *["base"] * 8)

    async def read_page(token: str) -> tuple[list[str], str]:
        page = await platform.tickets.ListTickets(pb.ListTicketsRequest(page_size=3, page_token=token))
        assert len(page.tickets) == 3 or not page.next_page_token
        return [t.ticket_id for t in page.tickets], page.next_page_token

    everything = [t.ticket_id for t in (await platform.tickets.ListTickets(pb.ListTicketsRequest())).tickets]
    assert sorted(everything) == sorted(opened)
    assert everything[:3] == opened[: SAME_INSTANT - 1 : -1]  # newest first
    assert await walk(read_page) == everything
    exactly = await platform.tickets.ListTickets(pb.ListTicketsRequest(page_size=len(opened)))
    assert exactly.next_page_token == ""  # no token to an empty page


async def test_a_filtered_listing_pages_through_its_own_tickets_only(platform: TicketsPlatform) -> None:
    await open_tickets(platform, "base", "base")
    someone = member()
    await platform.set_tier(someone, "base")
    theirs = [(await platform.tickets.OpenTicket(opening(someone))).ticket.ticket_id for _ in range(5)]

    async def read_page(token: str) -> tuple[list[str], str]:
        request = pb.ListTicketsRequest(member_id=someone, page_size=2, page_token=token)
        page = await platform.tickets.ListTickets(request)
        return [t.ticket_id for t in page.tickets], page.next_page_token

    assert sorted(await walk(read_page)) == sorted(theirs)


async def test_get_queue_pages_reach_every_ticket_once_in_queue_order(platform: TicketsPlatform) -> None:
    opened = await open_tickets(platform, *itertools.islice(itertools.cycle(["base", "gold", "silver"]), 10))

    async def read_page(token: str) -> tuple[list[str], str]:
        page = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_size=3, page_token=token))
        return [t.ticket_id for t in page.tickets], page.next_page_token

    queue = (await platform.agents.GetQueue(agents_pb.GetQueueRequest())).tickets
    assert sorted(t.ticket_id for t in queue) == sorted(opened)
    assert [t.priority for t in queue] == sorted((t.priority for t in queue), reverse=True)
    assert await walk(read_page) == [t.ticket_id for t in queue]


async def test_a_page_after_a_ticket_that_left_the_queue_starts_where_it_stood(platform: TicketsPlatform) -> None:
    opened = await open_tickets(platform, *["base"] * 6)
    first = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_size=3))
    queue = [t.ticket_id for t in (await platform.agents.GetQueue(agents_pb.GetQueueRequest())).tickets]
    await platform.agents.UpsertAgent(agent("ann", {"general": 1}))  # takes none of them: they need accounts
    resolving = pb.ResolveTicketRequest(ticket_id=first.tickets[-1].ticket_id, agent_id="ann", resolution="done")
    await platform.tickets.ResolveTicket(resolving)
    rest = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_token=first.next_page_token))
    assert [t.ticket_id for t in rest.tickets] == queue[3:]
    assert sorted(queue) == sorted(opened)


async def refusal(call: Awaitable[object]) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return field_violations(refused.value)


async def test_a_token_that_is_not_from_the_same_listing_is_refused_naming_page_token(
    platform: TicketsPlatform,
) -> None:
    await open_tickets(platform, "base", "base", "gold")
    listed = await platform.tickets.ListTickets(pb.ListTicketsRequest(page_size=1))
    queued = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_size=1))
    not_a_token = {"page_token": page_tokens.NOT_A_TOKEN}
    forged_priority = page_tokens.issue(["queue"], ["soon", "2026-11-23T10:00:00+00:00", listed.tickets[0].ticket_id])
    for token in ("garbage", listed.next_page_token, forged_priority):
        assert await refusal(platform.agents.GetQueue(agents_pb.GetQueueRequest(page_token=token))) == not_a_token
    for token in ("garbage", queued.next_page_token):
        request = pb.ListTicketsRequest(page_token=token)
        assert await refusal(platform.tickets.ListTickets(request)) == not_a_token
    other_filter = pb.ListTicketsRequest(breached_only=True, page_token=listed.next_page_token)
    assert await refusal(platform.tickets.ListTickets(other_filter)) == {"page_token": page_tokens.ANOTHER_LISTING}
