"""Service scores from survey answers, shared by tickets (its service metrics) and insights (program KPIs). Pure.

- NPS: percent promoters (recommend 9-10) minus percent detractors (0-6).
- CES: the average customer effort (1-7).
- CSAT: percent of answers with satisfaction 4 or 5.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def nps(recommend: Sequence[int]) -> float:
    promoters = sum(1 for r in recommend if r >= 9)
    detractors = sum(1 for r in recommend if r <= 6)
    return percent(promoters, len(recommend)) - percent(detractors, len(recommend))


def csat(satisfaction: Sequence[int]) -> float:
    return percent(sum(1 for s in satisfaction if s >= 4), len(satisfaction))


def average(values: Sequence[int]) -> float:
    return statistics.fmean(values) if values else 0.0
