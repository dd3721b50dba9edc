"""gRPC servicer for loyalty.tickets.v1.TicketsService: protobuf in, use cases, protobuf out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from loyalty.tickets.v1 import tickets_pb2 as pb
from loyalty.tickets.v1 import tickets_pb2_grpc

from services.common.errors import Violations
from services.common.proto_enums import enum_value, optional_enum_value, proto_enum
from services.common.proto_time import optional_timestamp, required_time
from services.tickets import domain, records_store, store
from services.tickets.application import TicketsApplication, TicketView, page_size
from services.tickets.goodwill import GoodwillRequest
from services.tickets.metrics import Metrics, SurveyAnswer
from services.tickets.surveys import SurveysApplication

Context = grpc.aio.ServicerContext[Any, Any]


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(self, tickets: TicketsApplication, surveys: SurveysApplication) -> None:
        self._tickets = tickets
        self._surveys = surveys

    async def OpenTicket(self, request: pb.OpenTicketRequest, context: Context) -> pb.OpenTicketResponse:
        violations = Violations()
        category = enum_value(violations, "category", pb.TicketCategory, request.category)
        channel = enum_value(violations, "channel", pb.TicketChannel, request.channel)
        claim = None
        if request.HasField("claim"):
            claim = domain.Claim(
                purchase_id=request.claim.purchase_id,
                partner_id=request.claim.partner_id,
                partner_transaction_id=request.claim.partner_transaction_id,
                expected_points=request.claim.expected_points,
            )
        new = domain.NewTicket(
            member_id=request.member_id,
            category=category,
            channel=channel,
            subject=request.subject,
            description=request.description,
            language=request.language or "en",
            claim=claim,
        )
        return pb.OpenTicketResponse(ticket=ticket_message(await self._tickets.open(new, violations)))

    async def GetTicket(self, request: pb.GetTicketRequest, context: Context) -> pb.GetTicketResponse:
        return pb.GetTicketResponse(ticket=ticket_message(await self._tickets.get(request.ticket_id)))

    async def ListTickets(self, request: pb.ListTicketsRequest, context: Context) -> pb.ListTicketsResponse:
        violations = Violations()
        status = optional_enum_value(violations, "status", pb.TicketStatus, request.status)
        violations.raise_if_any()
        query = store.TicketFilter(
            member_id=request.member_id,
            assignee=request.assignee,
            status=status,
            breached_only=request.breached_only,
            limit=page_size(request.page_size),
        )
        tickets, next_token = await self._tickets.list(query, request.page_token)
        return pb.ListTicketsResponse(
            tickets=[ticket_message(TicketView(t)) for t in tickets], next_page_token=next_token
        )

    async def AddMessage(self, request: pb.AddMessageRequest, context: Context) -> pb.AddMessageResponse:
        violations = Violations()
        author = enum_value(violations, "author", pb.MessageAuthor, request.author)
        view = await self._tickets.add_message(
            request.ticket_id,
            author,
            request.author_id,
            request.body,
            awaiting_member=request.awaiting_member,
            violations=violations,
        )
        return pb.AddMessageResponse(ticket=ticket_message(view))

    async def AssignTicket(self, request: pb.AssignTicketRequest, context: Context) -> pb.AssignTicketResponse:
        view = await self._tickets.assign(request.ticket_id, request.agent_id)
        return pb.AssignTicketResponse(ticket=ticket_message(view))

    async def ResolveTicket(self, request: pb.ResolveTicketRequest, context: Context) -> pb.ResolveTicketResponse:
        goodwill = GoodwillRequest(request.goodwill_points, request.goodwill_reason)
        view = await self._tickets.resolve(request.ticket_id, request.agent_id, request.resolution, goodwill)
        return pb.ResolveTicketResponse(ticket=ticket_message(view))

    async def ReopenTicket(self, request: pb.ReopenTicketRequest, context: Context) -> pb.ReopenTicketResponse:
        return pb.ReopenTicketResponse(ticket=ticket_message(await self._tickets.reopen(request.ticket_id)))

    async def ApproveGoodwill(self, request: pb.ApproveGoodwillRequest, context: Context) -> pb.ApproveGoodwillResponse:
        view = await self._tickets.approve_goodwill(request.ticket_id, request.approver_agent_id)
        return pb.ApproveGoodwillResponse(ticket=ticket_message(view))

    async def SubmitSurvey(self, request: pb.SubmitSurveyRequest, context: Context) -> pb.SubmitSurveyResponse:
        answer = SurveyAnswer(request.effort, request.satisfaction, request.recommend)
        view = await self._surveys.submit(request.ticket_id, answer)
        return pb.SubmitSurveyResponse(ticket=ticket_message(view))

    async def GetServiceMetrics(
        self, request: pb.GetServiceMetricsRequest, context: Context
    ) -> pb.GetServiceMetricsResponse:
        violations = Violations()
        start = required_time(violations, "from_time", request)
        end = required_time(violations, "to_time", request)
        category = optional_enum_value(violations, "category", pb.TicketCategory, request.category)
        violations.raise_if_any()
        query = records_store.MetricsFilter(start, end, request.tier, request.agent_id, category)
        return metrics_message(await self._surveys.metrics(query))


def ticket_message(view: TicketView) -> pb.Ticket:
    t = view.ticket
    message = pb.Ticket(
        ticket_id=str(t.ticket_id),
        member_id=t.member_id,
        tier=t.tier,
        category=proto_enum(pb.TicketCategory, t.category),
        channel=proto_enum(pb.TicketChannel, t.channel),
        subject=t.subject,
        description=t.description,
        language=t.language,
        priority=proto_enum(pb.TicketPriority, t.priority),
        status=proto_enum(pb.TicketStatus, t.status),
        assignee=t.assignee or "",
        required_skill=t.required_skill,
        sla_policy=t.sla_policy,
        first_response_due=optional_timestamp(t.first_response_due if t.first_responded_at is None else None),
        resolution_due=optional_timestamp(t.resolution_due),
        first_responded_at=optional_timestamp(t.first_responded_at),
        resolved_at=optional_timestamp(t.resolved_at),
        first_response_breached=t.first_response_breached,
        resolution_breached=t.resolution_breached,
        opened_at=optional_timestamp(t.opened_at),
        resolution=t.resolution,
        messages=[
            pb.TicketMessage(
                author=proto_enum(pb.MessageAuthor, m.author),
                author_id=m.author_id,
                body=m.body,
                created_at=optional_timestamp(m.created_at),
            )
            for m in view.messages
        ],
    )
    _add_records(message, view)
    return message


def _add_records(message: pb.Ticket, view: TicketView) -> None:
    if view.claim is not None:
        claim = view.claim.claim
        message.claim.CopyFrom(
            pb.Claim(
                purchase_id=claim.purchase_id,
                partner_id=claim.partner_id,
                partner_transaction_id=claim.partner_transaction_id,
                expected_points=claim.expected_points,
            )
        )
        check = view.claim.check
        message.claim_check.CopyFrom(
            pb.ClaimCheck(
                status=proto_enum(pb.ClaimStatus, check.status),
                credited_points=check.credited_points,
                ledger_entry_id=check.ledger_entry_id,
            )
        )
    if view.goodwill is not None:
        g = view.goodwill
        message.goodwill.CopyFrom(
            pb.Goodwill(
                points=g.points,
                reason=g.reason,
                granted_by=g.granted_by,
                approved_by=g.approved_by or "",
                status=proto_enum(pb.GoodwillStatus, g.status),
                requested_at=optional_timestamp(g.requested_at),
                granted_at=optional_timestamp(g.granted_at),
                over_limit=g.over_limit,
            )
        )
    if view.survey is not None:
        s = view.survey
        message.survey.CopyFrom(
            pb.Survey(
                issued_at=optional_timestamp(s.issued_at),
                submitted=s.submitted_at is not None,
                effort=s.effort or 0,
                satisfaction=s.satisfaction or 0,
                recommend=s.recommend or 0,
                submitted_at=optional_timestamp(s.submitted_at),
            )
        )


def _duration(span: timedelta | None) -> Duration | None:
    if span is None:
        return None
    duration = Duration()
    duration.FromNanoseconds(round(span.total_seconds() * 1e9))
    return duration


def metrics_message(metrics: Metrics) -> pb.GetServiceMetricsResponse:
    return pb.GetServiceMetricsResponse(
        tickets=metrics.tickets,
        surveys=metrics.surveys,
        nps=metrics.nps,
        average_effort=metrics.average_effort,
        csat=metrics.csat,
        first_response_attainment=metrics.first_response_attainment,
        resolution_attainment=metrics.resolution_attainment,
        median_first_response=_duration(metrics.median_first_response),
        median_resolution=_duration(metrics.median_resolution),
        first_response_measured=metrics.first_response_measured,
        resolved=metrics.resolved,
        first_replied=metrics.first_replied,
    )
