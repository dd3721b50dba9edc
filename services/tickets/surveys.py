"""Survey use cases: a member's answers once per resolved ticket, and the service metrics over a window."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from loyalty.events.v1 import tickets_pb2 as events

from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, Violations
from services.common.time_order import check_after
from services.tickets import records_store
from services.tickets.application import Clock, TicketView, locked_ticket, ticket_view, utc_now
from services.tickets.domain import require_id, require_ticket_id
from services.tickets.metrics import Metrics, SurveyAnswer, service_metrics
from services.tickets.policy import CATEGORIES
from services.tickets.records_store import MetricsFilter
from services.tickets.ticket_events import emit

EFFORT, SATISFACTION, RECOMMEND = range(1, 8), range(1, 6), range(0, 11)


def validate_answer(answer: SurveyAnswer, violations: Violations) -> None:
    for field, value, allowed in (
        ("effort", answer.effort, EFFORT),
        ("satisfaction", answer.satisfaction, SATISFACTION),
        ("recommend", answer.recommend, RECOMMEND),
    ):
        if value not in allowed:
            violations.add(field, f"must be between {allowed.start} and {allowed.stop - 1}")


def validate_window(query: MetricsFilter, violations: Violations) -> None:
    check_after(violations, "to_time", query.end, "from_time", query.start)
    if query.category and query.category not in CATEGORIES:
        violations.add("category", f"must be one of {', '.join(CATEGORIES)}")
    if query.agent_id:
        require_id(violations, "agent_id", query.agent_id)
    if query.tier:
        require_id(violations, "tier", query.tier)  # tier names are ids' shape, and far shorter


class SurveysApplication:
    def __init__(self, pool: asyncpg.Pool, now: Clock = utc_now) -> None:
        self._pool = pool
        self._now = now

    async def submit(self, ticket_id: str, answer: SurveyAnswer) -> TicketView:
        violations = Violations()
        require_ticket_id(violations, ticket_id)
        validate_answer(answer, violations)
        violations.raise_if_any()
        now: datetime = self._now()
        async with unit_of_work(self._pool) as connection:
            ticket = await locked_ticket(connection, ticket_id)
            survey = await records_store.get_survey(connection, ticket.ticket_id, lock=True)
            if survey is None:
                raise FailedPrecondition("ticket_id: no survey was issued; the ticket was never resolved")
            if survey.submitted_at is not None:
                raise AlreadyExists("ticket_id: the ticket's survey was already submitted")
            await records_store.submit_survey(connection, ticket.ticket_id, answer, now)
            submitted = events.SurveySubmitted(
                ticket_id=str(ticket.ticket_id),
                member_id=ticket.member_id,
                effort=answer.effort,
                satisfaction=answer.satisfaction,
                recommend=answer.recommend,
            )
            await emit(connection, submitted, ticket.member_id, now)
            return await ticket_view(connection, ticket)

    async def metrics(self, query: MetricsFilter) -> Metrics:
        violations = Violations()
        validate_window(query, violations)
        violations.raise_if_any()
        async with self._pool.acquire() as connection:
            tickets, answers = await records_store.metrics_facts(connection, query)
        return service_metrics(tickets, answers)
