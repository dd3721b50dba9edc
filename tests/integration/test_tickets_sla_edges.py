"""SLA breaches the job did not see first (a late reply, a pause or resolution past due), escalation and the queue."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from loyalty.common.v1.common_pb2 import Money
from loyalty.events.v1 import tickets_pb2 as events
from loyalty.points.v1 import points_pb2 as points_pb
from loyalty.tickets.v1 import agents_pb2 as agents_pb
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.events import timestamp
from services.tickets import assignment, sla_job
from tests.integration.test_tickets_grpc import member, opening, payload_of
from tests.integration.tickets_fixtures import START, TicketsPlatform, agent, platform

__all__ = ["platform"]


async def gold_ticket(platform: TicketsPlatform) -> pb.Ticket:
    """A gold member's account ticket (first reply within 1 hour, resolution within 8, around the clock) with ann."""
    gold = member()
    await platform.set_tier(gold, "gold")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    return (await platform.tickets.OpenTicket(opening(gold))).ticket


async def reply(platform: TicketsPlatform, ticket: pb.Ticket, *, awaiting_member: bool = False) -> pb.Ticket:
    request = pb.AddMessageRequest(
        ticket_id=ticket.ticket_id,
        author=pb.MESSAGE_AUTHOR_AGENT,
        author_id="ann",
        body="Looking into it",
        awaiting_member=awaiting_member,
    )
    return (await platform.tickets.AddMessage(request)).ticket


async def resolve(platform: TicketsPlatform, ticket: pb.Ticket) -> pb.Ticket:
    request = pb.ResolveTicketRequest(ticket_id=ticket.ticket_id, agent_id="ann", resolution="Sorted on the phone")
    return (await platform.tickets.ResolveTicket(request)).ticket


async def breaches_announced(platform: TicketsPlatform) -> list[tuple[str, object]]:
    breached = [payload_of(e, events.TicketSlaBreached) for e in await platform.outbox("TicketSlaBreached")]
    return [(b.sla, b.due_at) for b in breached]  # type: ignore[attr-defined]


async def test_a_late_first_reply_before_the_job_ran_is_breached_and_announced_once(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket(platform)
    platform.clock.advance(timedelta(hours=1, seconds=10))
    assert (await reply(platform, ticket)).first_response_breached
    await platform.run_sla_job()
    assert await breaches_announced(platform) == [("first_response", timestamp(START + timedelta(hours=1)))]


async def test_pausing_past_the_resolution_due_time_is_a_breach_the_resolution_keeps(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket(platform)
    await reply(platform, ticket)
    platform.clock.advance(timedelta(hours=8, minutes=5))
    paused = await reply(platform, ticket, awaiting_member=True)
    assert paused.resolution_breached
    platform.clock.advance(timedelta(minutes=1))
    await platform.run_sla_job()
    resolved = await resolve(platform, ticket)
    assert resolved.resolution_breached
    assert await breaches_announced(platform) == [("resolution", timestamp(START + timedelta(hours=8)))]


@pytest.mark.parametrize("ending", ["resolved", "paused"])
async def test_a_ticket_past_a_due_time_at_closing_is_breached_whoever_finds_it_first(
    platform: TicketsPlatform, ending: str
) -> None:
    """A budget that ends at closing time is used up, not overrun, in the closed hours after it: still late."""
    platform.clock.now = START - timedelta(hours=2)  # Monday 08:00, before opening
    silver = member()
    await platform.set_tier(silver, "silver")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    ticket = (await platform.tickets.OpenTicket(opening(silver))).ticket
    due = START + timedelta(days=2, hours=7)  # 24 working hours: Wednesday 17:00, closing time
    assert ticket.resolution_due == timestamp(due)
    platform.clock.now = START
    await reply(platform, ticket)
    platform.clock.now = due + timedelta(minutes=30)
    if ending == "resolved":
        ended = await resolve(platform, ticket)
    else:
        ended = await reply(platform, ticket, awaiting_member=True)
    assert ended.resolution_breached
    await platform.run_sla_job()
    assert await breaches_announced(platform) == [("resolution", timestamp(due))]


async def test_one_sla_run_escalates_every_ticket_past_due_a_batch_at_a_time(
    platform: TicketsPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sla_job, "BATCH", 2)
    tickets = [await gold_ticket(platform) for _ in range(5)]
    platform.clock.advance(timedelta(hours=1, seconds=10))
    await platform.run_sla_job()
    assert len(await breaches_announced(platform)) == len(tickets)


async def test_resolving_unanswered_after_the_first_reply_was_due_is_a_first_response_breach(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket(platform)
    platform.clock.advance(timedelta(hours=1, minutes=10))
    resolved = await resolve(platform, ticket)
    assert (resolved.first_response_breached, resolved.resolution_breached) == (True, False)
    metrics = await platform.tickets.GetServiceMetrics(
        pb.GetServiceMetricsRequest(
            from_time=timestamp(START - timedelta(hours=1)), to_time=timestamp(START + timedelta(days=1))
        )
    )
    assert metrics.first_response_measured == 1
    assert await breaches_announced(platform) == [("first_response", timestamp(START + timedelta(hours=1)))]


async def test_a_ticket_resolved_in_time_unanswered_does_not_breach_the_first_reply_when_reopened(
    platform: TicketsPlatform,
) -> None:
    ticket = await gold_ticket(platform)
    platform.clock.advance(timedelta(minutes=10))
    await resolve(platform, ticket)
    platform.clock.advance(timedelta(days=1))
    reopened = (await platform.tickets.ReopenTicket(pb.ReopenTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert (await platform.run_sla_job()).breaches == 0  # type: ignore[attr-defined]
    after = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert (after.first_response_breached, after.priority, after.assignee) == (False, reopened.priority, "ann")
    assert await breaches_announced(platform) == []


async def test_escalation_never_moves_a_ticket_to_a_less_skilled_agent(platform: TicketsPlatform) -> None:
    gold = member()
    await platform.set_tier(gold, "gold")
    await platform.agents.UpsertAgent(agent("senior", {"accounts": 5}))
    ticket = (await platform.tickets.OpenTicket(opening(gold))).ticket
    assert ticket.assignee == "senior"
    await platform.agents.UpsertAgent(agent("junior", {"accounts": 3}))
    platform.clock.advance(timedelta(hours=1, minutes=1))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    escalated = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert (escalated.assignee, escalated.priority) == ("senior", pb.TICKET_PRIORITY_URGENT)


async def test_an_agent_with_room_gets_a_queued_ticket_behind_a_page_of_tickets_nobody_can_take(
    platform: TicketsPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assignment, "QUEUE_DRAIN_LIMIT", 3)
    base = member()
    await platform.set_tier(base, "base")
    for _ in range(4):  # older than the account ticket, and no agent has the skill 'other' tickets need
        await platform.tickets.OpenTicket(opening(base, category=pb.TICKET_CATEGORY_OTHER))
    platform.clock.advance(timedelta(minutes=1))
    accounts = [(await platform.tickets.OpenTicket(opening(base))).ticket for _ in range(4)]
    added = await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, capacity=4))
    assert sorted(added.assigned_ticket_ids) == sorted(t.ticket_id for t in accounts)
    queue = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_size=10))
    assert len(queue.tickets) == 4


async def test_a_queue_is_drained_a_page_per_few_statements_with_every_ticket_announced(
    platform: TicketsPlatform,
) -> None:
    """An agent back to a queue of 40 (under the routing lock, which every assignment waits for)."""
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, capacity=50, status=agents_pb.AGENT_STATUS_AWAY))
    base = member()
    await platform.set_tier(base, "base")
    queued = [(await platform.tickets.OpenTicket(opening(base))).ticket.ticket_id for _ in range(40)]
    statements: list[str] = []
    async with platform.pool.acquire() as connection, connection.transaction():
        await assignment.lock_routing(connection)
        await connection.execute("UPDATE agents SET status = 'available' WHERE agent_id = 'ann'")
        connection.add_query_logger(lambda record: statements.append(record.query))
        drained = await assignment.drain_queue(connection, platform.clock.now)
    assert sorted(a.ticket_id for a in drained) == sorted(queued)
    ours = [q for q in statements if "typeinfo_tree" not in q and "set_config('jit'" not in q]  # asyncpg's own
    # About 5 for the page and 2 to find the queue empty, not 5 a ticket.
    assert len(ours) < 10, [q.split()[:4] for q in ours]
    assigned = [payload_of(e, events.TicketAssigned) for e in await platform.outbox("TicketAssigned")]
    assert sorted(a.ticket_id for a in assigned) == sorted(queued)  # type: ignore[attr-defined]
    assert {a.agent_id for a in assigned} == {"ann"}  # type: ignore[attr-defined]
    shown = [(await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=t))).ticket for t in queued]
    assert {t.assignee for t in shown} == {"ann"}
    queue = await platform.agents.GetQueue(agents_pb.GetQueueRequest(page_size=10))
    assert not queue.tickets


async def test_an_agent_freed_by_a_reassignment_takes_the_queue(platform: TicketsPlatform) -> None:
    base = member()
    await platform.set_tier(base, "base")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, capacity=1))
    await platform.agents.UpsertAgent(agent("bob", {"accounts": 3}, status=agents_pb.AGENT_STATUS_BUSY))
    first = (await platform.tickets.OpenTicket(opening(base))).ticket
    second = (await platform.tickets.OpenTicket(opening(base))).ticket
    assert (first.assignee, second.assignee) == ("ann", "")
    await platform.tickets.AssignTicket(pb.AssignTicketRequest(ticket_id=first.ticket_id, agent_id="bob"))
    after = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=second.ticket_id))).ticket
    assert after.assignee == "ann"


async def test_a_partner_claim_keeps_its_partner_and_transaction(platform: TicketsPlatform) -> None:
    claimant = member()
    await platform.set_tier(claimant, "base")
    claim = pb.Claim(partner_id="sky-air", partner_transaction_id="PNR-4711", expected_points=812)
    request = opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS)
    request.claim.CopyFrom(claim)
    opened = (await platform.tickets.OpenTicket(request)).ticket
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=opened.ticket_id))).ticket
    assert opened.claim == fetched.claim == claim
    ticket_id = uuid.UUID(opened.ticket_id)
    assert await platform.pool.fetchval("SELECT claim_purchase_id FROM tickets WHERE ticket_id = $1", ticket_id) == ""


async def claim_for_a_late_purchase(platform: TicketsPlatform, agent_limit: int) -> tuple[pb.Ticket, str, str]:
    """A missing-points ticket (claim not found credited: the purchase is late), agent ann with `agent_limit`."""
    claimant = member()
    await platform.points.EnrollMember(points_pb.EnrollMemberRequest(member_id=claimant))
    await platform.set_tier(claimant, "base")
    await platform.agents.UpsertAgent(agent("ann", {"claims": 3}, goodwill_limit=agent_limit))
    late_order = f"order-{uuid.uuid4().hex[:8]}"
    request = opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS)
    request.claim.CopyFrom(pb.Claim(purchase_id=late_order))
    opened = (await platform.tickets.OpenTicket(request)).ticket
    assert opened.claim_check.status == pb.CLAIM_STATUS_NOT_CREDITED
    return opened, claimant, late_order


async def the_late_purchase_arrives(platform: TicketsPlatform, claimant: str, late_order: str) -> None:
    purchase = points_pb.RecordPurchaseRequest(
        purchase_id=late_order,
        member_id=claimant,
        amount=Money(amount_minor=5000, currency_code="USD"),
        occurred_at=timestamp(START - timedelta(days=1)),
    )
    await platform.points.RecordPurchase(purchase)


def resolving_with_goodwill(opened: pb.Ticket, points: int) -> pb.ResolveTicketRequest:
    return pb.ResolveTicketRequest(
        ticket_id=opened.ticket_id, agent_id="ann", resolution="ok", goodwill_points=points, goodwill_reason="missing"
    )


async def test_goodwill_is_refused_for_a_claim_credited_since_the_ticket_opened(platform: TicketsPlatform) -> None:
    opened, claimant, late_order = await claim_for_a_late_purchase(platform, agent_limit=500)
    await the_late_purchase_arrives(platform, claimant, late_order)  # after the member complained
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ResolveTicket(resolving_with_goodwill(opened, 100))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=opened.ticket_id))).ticket
    assert (fetched.claim_check.status, fetched.claim_check.credited_points) == (pb.CLAIM_STATUS_ALREADY_CREDITED, 100)
    assert fetched.status != pb.TICKET_STATUS_RESOLVED


async def test_approving_goodwill_is_refused_for_a_claim_credited_while_it_waited(platform: TicketsPlatform) -> None:
    opened, claimant, late_order = await claim_for_a_late_purchase(platform, agent_limit=50)
    await platform.agents.UpsertAgent(agent("bea", {"claims": 3}, goodwill_limit=5000))
    resolved = (await platform.tickets.ResolveTicket(resolving_with_goodwill(opened, 600))).ticket
    assert resolved.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL  # beyond ann's limit
    await the_late_purchase_arrives(platform, claimant, late_order)  # while the grant waits for approval
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ApproveGoodwill(
            pb.ApproveGoodwillRequest(ticket_id=opened.ticket_id, approver_agent_id="bea")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=opened.ticket_id))).ticket
    assert fetched.claim_check.status == pb.CLAIM_STATUS_ALREADY_CREDITED
    assert fetched.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL


async def test_a_second_ticket_claiming_the_same_purchase_gets_no_second_goodwill(platform: TicketsPlatform) -> None:
    first, claimant, late_order = await claim_for_a_late_purchase(platform, agent_limit=500)
    assert (await platform.tickets.ResolveTicket(resolving_with_goodwill(first, 100))).ticket.goodwill.points == 100
    again = opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS)
    again.claim.CopyFrom(pb.Claim(purchase_id=late_order))
    second = (await platform.tickets.OpenTicket(again)).ticket
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ResolveTicket(resolving_with_goodwill(second, 100))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    expected = f"goodwill_points: ticket {first.ticket_id} already has goodwill granted for the same claim"
    assert refused.value.details() == expected
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=second.ticket_id))).ticket
    assert fetched.status != pb.TICKET_STATUS_RESOLVED and not fetched.HasField("goodwill")
    other_order = opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS)
    other_order.claim.CopyFrom(pb.Claim(purchase_id=f"{late_order}-b"))
    third = (await platform.tickets.OpenTicket(other_order)).ticket
    assert (await platform.tickets.ResolveTicket(resolving_with_goodwill(third, 100))).ticket.goodwill.points == 100


async def test_a_grant_left_waiting_for_approval_does_not_block_another_tickets_goodwill(
    platform: TicketsPlatform,
) -> None:
    first, claimant, late_order = await claim_for_a_late_purchase(platform, agent_limit=500)
    await platform.agents.UpsertAgent(agent("bea", {"claims": 3}, goodwill_limit=5000))
    waiting = (await platform.tickets.ResolveTicket(resolving_with_goodwill(first, 600))).ticket
    assert waiting.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL  # and nobody ever approves it
    again = opening(claimant, category=pb.TICKET_CATEGORY_MISSING_POINTS)
    again.claim.CopyFrom(pb.Claim(purchase_id=late_order))
    second = (await platform.tickets.OpenTicket(again)).ticket
    granted = (await platform.tickets.ResolveTicket(resolving_with_goodwill(second, 100))).ticket
    assert (granted.goodwill.status, granted.goodwill.points) == (pb.GOODWILL_STATUS_GRANTED, 100)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.tickets.ApproveGoodwill(
            pb.ApproveGoodwillRequest(ticket_id=first.ticket_id, approver_agent_id="bea")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        refused.value.details()
        == f"ticket_id: ticket {second.ticket_id} already has goodwill granted for the same claim"
    )
    fetched = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=first.ticket_id))).ticket
    assert fetched.goodwill.status == pb.GOODWILL_STATUS_PENDING_APPROVAL
    grants = [payload_of(e, events.GoodwillGranted) for e in await platform.outbox("GoodwillGranted")]
    granted_tickets = {g.ticket_id for g in grants}  # type: ignore[attr-defined]
    assert second.ticket_id in granted_tickets and first.ticket_id not in granted_tickets


async def test_goodwill_on_a_claim_kept_before_it_named_what_it_claims_is_granted(platform: TicketsPlatform) -> None:
    """A partner claim kept before tickets migration 003 names nothing: nothing to ask points about again."""
    opened, _, _ = await claim_for_a_late_purchase(platform, agent_limit=500)
    await platform.pool.execute(
        "UPDATE tickets SET claim_purchase_id = '' WHERE ticket_id = $1", uuid.UUID(opened.ticket_id)
    )
    resolved = (await platform.tickets.ResolveTicket(resolving_with_goodwill(opened, 100))).ticket
    assert (resolved.goodwill.status, resolved.goodwill.points) == (pb.GOODWILL_STATUS_GRANTED, 100)
