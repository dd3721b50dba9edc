"""Service scores from surveys and SLA facts: NPS, CES, CSAT, attainment, medians. Pure.

- NPS: percent promoters (recommend 9-10) minus percent detractors (0-6).
- CES: the average customer effort (1-7).
- CSAT: percent of answers with satisfaction 4 or 5.
- First-response attainment: of tickets answered by an agent or breached, the
  percent not breached; tickets still waiting within their due time do not count.
- Resolution attainment: of resolved tickets, the percent resolved without a breach.
- Medians of the wall-clock time to the first agent reply and to resolution.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.service_scores import average, csat, nps, percent

__all__ = ["Metrics", "SurveyAnswer", "TicketFacts", "average", "csat", "median", "nps", "percent", "service_metrics"]


@dataclass(frozen=True)
class SurveyAnswer:
    effort: int
    satisfaction: int
    recommend: int


@dataclass(frozen=True)
class TicketFacts:
    opened_at: datetime
    first_responded_at: datetime | None
    first_response_breached: bool
    resolved_at: datetime | None
    resolution_breached: bool


@dataclass(frozen=True)
class Metrics:
    tickets: int
    surveys: int
    nps: float
    average_effort: float
    csat: float
    first_response_attainment: float
    resolution_attainment: float
    # None when there is nothing to take the median of.
    median_first_response: timedelta | None
    median_resolution: timedelta | None
    # The bases of the attainments and medians: 0 tells "no data" from a measured 0.
    first_response_measured: int
    resolved: int
    first_replied: int


def median(durations: Sequence[timedelta]) -> timedelta | None:
    return timedelta(seconds=statistics.median(d.total_seconds() for d in durations)) if durations else None


def service_metrics(tickets: Sequence[TicketFacts], answers: Sequence[SurveyAnswer]) -> Metrics:
    answered = [t for t in tickets if t.first_responded_at is not None or t.first_response_breached]
    resolved = [t for t in tickets if t.resolved_at is not None]
    first_replies = [t.first_responded_at - t.opened_at for t in tickets if t.first_responded_at is not None]
    return Metrics(
        tickets=len(tickets),
        surveys=len(answers),
        nps=nps([a.recommend for a in answers]),
        average_effort=average([a.effort for a in answers]),
        csat=csat([a.satisfaction for a in answers]),
        first_response_attainment=percent(sum(not t.first_response_breached for t in answered), len(answered)),
        resolution_attainment=percent(sum(not t.resolution_breached for t in resolved), len(resolved)),
        median_first_response=median(first_replies),
        median_resolution=median([t.resolved_at - t.opened_at for t in resolved if t.resolved_at is not None]),
        first_response_measured=len(answered),
        resolved=len(resolved),
        first_replied=len(first_replies),
    )
