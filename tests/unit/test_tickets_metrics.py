"""Score arithmetic against hand-computed examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.tickets.metrics import SurveyAnswer, TicketFacts, csat, median, nps, service_metrics

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_six_promoters_two_passives_two_detractors_is_nps_40() -> None:
    assert nps([9, 10, 9, 10, 9, 10, 7, 8, 6, 0]) == 40.0


def test_nps_ranges_from_minus_100_to_100() -> None:
    assert nps([0, 6, 3]) == -100.0
    assert nps([9, 10]) == 100.0
    assert nps([7, 8]) == 0.0
    assert nps([]) == 0.0


def test_csat_counts_4_and_5_as_satisfied() -> None:
    # 3 of 4 answers are 4 or 5.
    assert csat([5, 4, 3, 4]) == 75.0


def test_median_of_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median([timedelta(hours=h) for h in (4, 1, 3, 2)]) == timedelta(hours=2, minutes=30)
    assert median([]) is None  # no data, not a zero duration


def facts(first_h: float | None, fr_breached: bool, resolved_h: float | None, res_breached: bool) -> TicketFacts:
    return TicketFacts(
        opened_at=T0,
        first_responded_at=None if first_h is None else T0 + timedelta(hours=first_h),
        first_response_breached=fr_breached,
        resolved_at=None if resolved_h is None else T0 + timedelta(hours=resolved_h),
        resolution_breached=res_breached,
    )


def test_service_metrics_by_hand() -> None:
    tickets = [
        facts(0.5, False, 2, False),
        facts(3, True, 10, True),  # answered late, resolved late
        facts(1, False, 6, False),
        facts(None, True, None, False),  # never answered, first response breached
        facts(None, False, None, False),  # still within its due time: not counted
    ]
    answers = [SurveyAnswer(2, 5, 10), SurveyAnswer(5, 2, 3), SurveyAnswer(3, 4, 8)]
    metrics = service_metrics(tickets, answers)
    assert metrics.tickets == 5
    assert metrics.surveys == 3
    # promoters 1/3, detractors 1/3
    assert metrics.nps == 0.0
    assert metrics.average_effort == (2 + 5 + 3) / 3
    # satisfaction 5 and 4 of 3 answers
    assert round(metrics.csat, 6) == round(200 / 3, 6)
    # 4 tickets count for first response (3 answered + 1 breached), 2 not breached
    assert metrics.first_response_attainment == 50.0
    # 3 resolved, 1 breached
    assert round(metrics.resolution_attainment, 6) == round(200 / 3, 6)
    assert metrics.median_first_response == timedelta(hours=1)
    assert metrics.median_resolution == timedelta(hours=6)
    assert (metrics.first_response_measured, metrics.resolved, metrics.first_replied) == (4, 3, 3)


def test_no_data_is_told_from_a_measured_zero() -> None:
    waiting = service_metrics([facts(None, False, None, False)], [])
    assert (waiting.first_response_measured, waiting.resolved, waiting.first_replied) == (0, 0, 0)
    assert waiting.first_response_attainment == 0.0
    assert waiting.median_first_response is None and waiting.median_resolution is None
    all_late = service_metrics([facts(None, True, None, False)], [])
    assert (all_late.first_response_attainment, all_late.first_response_measured) == (0.0, 1)
