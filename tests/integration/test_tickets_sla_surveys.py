"""The SLA job, waiting on the member, reopening, surveys once per ticket and service metrics, with a moved clock."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from loyalty.events.v1 import tickets_pb2 as events
from loyalty.tickets.v1 import tickets_pb2 as pb

from services.common.events import timestamp
from tests.integration.support import field_violations
from tests.integration.test_tickets_grpc import member, opening, payload_of
from tests.integration.tickets_fixtures import START, TicketsPlatform, agent, platform

__all__ = ["platform"]


async def test_breach_emits_raises_priority_and_reassigns_to_a_senior_agent(platform: TicketsPlatform) -> None:
    gold = member()
    await platform.set_tier(gold, "gold")
    await platform.agents.UpsertAgent(agent("junior", {"accounts": 2}))
    ticket = (await platform.tickets.OpenTicket(opening(gold))).ticket
    assert ticket.assignee == "junior"
    await platform.agents.UpsertAgent(agent("senior", {"accounts": 4}))

    platform.clock.advance(timedelta(minutes=59))
    assert (await platform.run_sla_job()).breaches == 0  # type: ignore[attr-defined]
    platform.clock.advance(timedelta(minutes=2))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    assert (await platform.run_sla_job()).breaches == 0  # type: ignore[attr-defined]

    escalated = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert (escalated.priority, escalated.assignee, escalated.first_response_breached) == (
        pb.TICKET_PRIORITY_URGENT,
        "senior",
        True,
    )
    breached = [payload_of(e, events.TicketSlaBreached) for e in await platform.outbox("TicketSlaBreached")]
    assert [(b.sla, b.priority, b.agent_id) for b in breached] == [("first_response", "urgent", "senior")]  # type: ignore[attr-defined]
    assert breached[0].due_at == timestamp(START + timedelta(hours=1))  # type: ignore[attr-defined]
    listed = await platform.tickets.ListTickets(pb.ListTicketsRequest(breached_only=True))
    assert [t.ticket_id for t in listed.tickets] == [ticket.ticket_id]


async def test_waiting_on_the_member_pauses_the_resolution_clock(platform: TicketsPlatform) -> None:
    gold = member()
    await platform.set_tier(gold, "gold")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    ticket = (await platform.tickets.OpenTicket(opening(gold))).ticket
    platform.clock.advance(timedelta(minutes=30))
    asked = await platform.tickets.AddMessage(
        pb.AddMessageRequest(
            ticket_id=ticket.ticket_id,
            author=pb.MESSAGE_AUTHOR_AGENT,
            author_id="ann",
            body="Which booking?",
            awaiting_member=True,
        )
    )
    assert asked.ticket.status == pb.TICKET_STATUS_WAITING_ON_MEMBER
    assert not asked.ticket.HasField("resolution_due")
    assert not asked.ticket.HasField("first_response_due")
    platform.clock.advance(timedelta(days=3))
    assert (await platform.run_sla_job()).breaches == 0  # type: ignore[attr-defined]
    answered = await platform.tickets.AddMessage(
        pb.AddMessageRequest(
            ticket_id=ticket.ticket_id, author=pb.MESSAGE_AUTHOR_MEMBER, author_id=gold, body="Booking 42"
        )
    )
    assert answered.ticket.status == pb.TICKET_STATUS_OPEN
    assert answered.ticket.resolution_due == timestamp(platform.clock.now + timedelta(hours=7, minutes=30))
    assert [m.body for m in answered.ticket.messages] == ["Which booking?", "Booking 42"]
    with pytest.raises(grpc.aio.AioRpcError) as stranger:
        await platform.tickets.AddMessage(
            pb.AddMessageRequest(
                ticket_id=ticket.ticket_id, author=pb.MESSAGE_AUTHOR_MEMBER, author_id="someone-else", body="hi"
            )
        )
    assert stranger.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def resolved_ticket(platform: TicketsPlatform, tier: str, agent_id: str, hours: float) -> str:
    someone = member()
    await platform.set_tier(someone, tier)
    ticket = (await platform.tickets.OpenTicket(opening(someone))).ticket
    platform.clock.advance(timedelta(hours=hours))
    await platform.tickets.AddMessage(
        pb.AddMessageRequest(
            ticket_id=ticket.ticket_id, author=pb.MESSAGE_AUTHOR_AGENT, author_id=agent_id, body="on it"
        )
    )
    await platform.tickets.ResolveTicket(
        pb.ResolveTicketRequest(ticket_id=ticket.ticket_id, agent_id=agent_id, resolution="done")
    )
    platform.clock.advance(-timedelta(hours=hours))
    return ticket.ticket_id


async def test_surveys_once_per_ticket_and_metrics_by_hand(platform: TicketsPlatform) -> None:
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}, capacity=20))
    recommend = [9, 10, 9, 10, 9, 10, 7, 8, 6, 0]
    satisfaction = [5, 5, 4, 4, 4, 3, 3, 2, 1, 5]
    effort = [1, 2, 3, 4, 5, 6, 7, 1, 2, 3]
    # Gold tickets: first reply after 2 hours (breaching the 1-hour SLA) for the first four.
    ids = [await resolved_ticket(platform, "gold", "ann", 2 if i < 4 else 0.5) for i in range(10)]
    for ticket_id, r, s, e in zip(ids, recommend, satisfaction, effort, strict=True):
        await platform.tickets.SubmitSurvey(
            pb.SubmitSurveyRequest(ticket_id=ticket_id, effort=e, satisfaction=s, recommend=r)
        )
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await platform.tickets.SubmitSurvey(
            pb.SubmitSurveyRequest(ticket_id=ids[0], effort=1, satisfaction=1, recommend=1)
        )
    assert twice.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as out_of_range:
        await platform.tickets.SubmitSurvey(
            pb.SubmitSurveyRequest(ticket_id=ids[1], effort=8, satisfaction=0, recommend=11)
        )
    assert set(field_violations(out_of_range.value)) == {"effort", "satisfaction", "recommend"}
    # A base-tier ticket, resolved but never surveyed, falls outside the gold filter.
    await resolved_ticket(platform, "base", "ann", 1)

    window = pb.GetServiceMetricsRequest(
        from_time=timestamp(START - timedelta(hours=1)), to_time=timestamp(START + timedelta(hours=1)), tier="gold"
    )
    metrics = await platform.tickets.GetServiceMetrics(window)
    assert (metrics.tickets, metrics.surveys) == (10, 10)
    assert metrics.nps == pytest.approx(40.0)
    assert metrics.average_effort == pytest.approx(3.4)
    assert metrics.csat == pytest.approx(60.0)  # six of ten answers are 4 or 5
    assert metrics.first_response_attainment == pytest.approx(60.0)
    assert metrics.resolution_attainment == pytest.approx(100.0)
    # Six replies after 30 minutes and four after 2 hours: the median is 30 minutes.
    assert metrics.median_first_response.ToTimedelta() == timedelta(minutes=30)
    assert (metrics.first_response_measured, metrics.resolved, metrics.first_replied) == (10, 10, 10)
    everyone = await platform.tickets.GetServiceMetrics(
        pb.GetServiceMetricsRequest(from_time=window.from_time, to_time=window.to_time)
    )
    assert (everyone.tickets, everyone.surveys) == (11, 10)
    opened = [payload_of(e, events.TicketOpened) for e in await platform.outbox("TicketOpened")]
    assert [(o.tier, o.priority) for o in opened] == [("gold", "high")] * 10 + [("base", "low")]  # type: ignore[attr-defined]
    resolved = [payload_of(e, events.TicketResolved) for e in await platform.outbox("TicketResolved")]
    assert [r.sla_breached for r in resolved] == [True] * 4 + [False] * 7  # type: ignore[attr-defined]
    surveyed = [payload_of(e, events.SurveySubmitted) for e in await platform.outbox("SurveySubmitted")]
    assert [s.recommend for s in surveyed] == recommend  # type: ignore[attr-defined]
    before_any = await platform.tickets.GetServiceMetrics(
        pb.GetServiceMetricsRequest(
            from_time=timestamp(START - timedelta(days=2)), to_time=timestamp(START - timedelta(days=1))
        )
    )
    assert (before_any.tickets, before_any.first_response_measured, before_any.resolved) == (0, 0, 0)
    assert not before_any.HasField("median_first_response") and not before_any.HasField("median_resolution")
    with pytest.raises(grpc.aio.AioRpcError) as bad_window:
        await platform.tickets.GetServiceMetrics(pb.GetServiceMetricsRequest(to_time=window.from_time))
    assert set(field_violations(bad_window.value)) == {"from_time"}


async def test_reopen_routes_again_and_keeps_the_first_survey(platform: TicketsPlatform) -> None:
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    ticket_id = await resolved_ticket(platform, "silver", "ann", 1)
    with pytest.raises(grpc.aio.AioRpcError) as not_resolved:
        await platform.tickets.ReopenTicket(pb.ReopenTicketRequest(ticket_id=str(uuid.uuid4())))
    assert not_resolved.value.code() == grpc.StatusCode.NOT_FOUND
    reopened = (await platform.tickets.ReopenTicket(pb.ReopenTicketRequest(ticket_id=ticket_id))).ticket
    assert (reopened.status, reopened.assignee) == (pb.TICKET_STATUS_OPEN, "ann")
    assert reopened.survey.HasField("issued_at")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await platform.tickets.ReopenTicket(pb.ReopenTicketRequest(ticket_id=ticket_id))
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_breach_with_nobody_more_senior_keeps_the_assignee_and_raises_priority(platform: TicketsPlatform) -> None:
    silver = member()
    await platform.set_tier(silver, "silver")
    await platform.agents.UpsertAgent(agent("solo", {"accounts": 2}))
    ticket = (await platform.tickets.OpenTicket(opening(silver))).ticket
    assert ticket.priority == pb.TICKET_PRIORITY_NORMAL
    # Silver: 4 working hours to the first reply; Monday 10:00 + 4h 1m is past it.
    platform.clock.advance(timedelta(hours=4, minutes=1))
    assert (await platform.run_sla_job()).breaches == 1  # type: ignore[attr-defined]
    escalated = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert (escalated.priority, escalated.assignee) == (pb.TICKET_PRIORITY_HIGH, "solo")
    assert [payload_of(e, events.TicketAssigned).reason for e in await platform.outbox("TicketAssigned")] == [  # type: ignore[attr-defined]
        "routing"
    ]


async def test_the_answer_to_a_survey_shows_the_whole_ticket(platform: TicketsPlatform) -> None:
    someone = member()
    await platform.set_tier(someone, "gold")
    await platform.agents.UpsertAgent(agent("ann", {"accounts": 3}))
    ticket = (await platform.tickets.OpenTicket(opening(someone))).ticket
    resolution = pb.ResolveTicketRequest(
        ticket_id=ticket.ticket_id, agent_id="ann", resolution="done", goodwill_points=100, goodwill_reason="sorry"
    )
    await platform.tickets.ResolveTicket(resolution)
    answer = pb.SubmitSurveyRequest(ticket_id=ticket.ticket_id, effort=2, satisfaction=5, recommend=10)
    answered = (await platform.tickets.SubmitSurvey(answer)).ticket
    shown = (await platform.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))).ticket
    assert answered.survey.submitted and answered.goodwill.points == 100
    del shown.messages[:]
    assert answered == shown
