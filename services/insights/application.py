"""Insights use cases: the KPIs of a window (total and segments), and month by month for the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import asyncpg

from services.common.errors import InvalidArgument, Violations
from services.common.time_order import check_after
from services.insights import kpis, store
from services.insights.settings import InsightsSettings

Clock = Callable[[], datetime]
# At most this many months on the dashboard: a report (four statements) per month.
MAX_MONTHS = 36


class Grouping(Enum):
    NONE = "none"
    TIER = "tier"
    PARTNER = "partner"


_SEGMENTERS = {Grouping.TIER: kpis.by_tier, Grouping.PARTNER: kpis.by_partner}


@dataclass(frozen=True)
class Report:
    window: kpis.Window
    grouping: Grouping
    total: kpis.Kpis
    # (tier or partner id, its KPIs), in name order.
    segments: list[tuple[str, kpis.Kpis]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class InsightsApplication:
    def __init__(self, pool: asyncpg.Pool, settings: InsightsSettings, now: Clock = utc_now) -> None:
        self._pool = pool
        self._valuation = kpis.Valuation(settings.cost_per_point, settings.currency_exponent)
        self._currency = settings.currency
        self._now = now

    @property
    def valuation(self) -> kpis.Valuation:
        return self._valuation

    @property
    def currency(self) -> str:
        return self._currency

    async def report(self, window: kpis.Window, grouping: Grouping = Grouping.NONE) -> Report:
        violations = Violations()
        check_after(violations, "to_time", window.end, "from_time", window.start)
        if not violations.about("to_time") and not _has_previous(window):
            violations.add("from_time", "is too early for a window this long: the one before it starts before year 1")
        violations.raise_if_any()
        async with self._pool.acquire() as connection, connection.transaction(isolation="repeatable_read"):
            facts = await store.window_facts(connection, window, self._currency)
        segmenter = _SEGMENTERS.get(grouping)
        segments = segmenter(facts) if segmenter else {}
        return Report(
            window=window,
            grouping=grouping,
            total=kpis.compute(kpis.total(facts), self._valuation),
            segments=[(name, kpis.compute(part, self._valuation)) for name, part in segments.items()],
        )

    async def monthly(self, count: int, last: datetime | None = None) -> list[Report]:
        """`count` calendar months (UTC) ending with the month of `last` (now when None), oldest first."""
        violations = Violations()
        if not 1 <= count <= MAX_MONTHS:
            violations.add("months", f"must be between 1 and {MAX_MONTHS}")
        violations.raise_if_any()
        try:
            first = (last or self._now()).astimezone(UTC).replace(day=1)
            for _ in range(count - 1):
                first = (first - timedelta(days=1)).replace(day=1)
            windows = kpis.months(first, count)
        except OverflowError:
            raise InvalidArgument.single("until", "must leave the months reported within the years 1 to 9999") from None
        return [await self.report(window) for window in windows]


def _has_previous(window: kpis.Window) -> bool:
    """Whether the window of the same length just before it (the comparisons' baseline) is a representable one."""
    try:
        window.previous  # noqa: B018 (computed for the OverflowError only)
    except OverflowError:
        return False
    return True
