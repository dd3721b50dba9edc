"""The program KPIs of a window, from facts summed over its members. Pure: docs/insights.md gives each formula.

A window is [start, end). "The previous window" is the window of the same
length that ends where this one starts. A member is *active* in a window when
they made a purchase or accrued points with a partner in it; the members at
the start of a window are the members active in the previous window, the
members at its end those active in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Self

from services.common.service_scores import percent


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class _Sums:
    """Counts and sums, added field by field: a segment's are the sum of its tiers'."""

    def __add__(self, other: Self) -> Self:
        return type(self)(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class MemberSums(_Sums):
    """What a set of members (enrolled before the window's end) did, as of the window: counts of members and sums.

    A member is counted in `members_active` (the members at the end) when they made a purchase or accrued
    with a partner in the window, in `members_at_start` when they did so in the previous window.
    """

    members_total: int = 0
    # Enrolled in the window.
    members_enrolled: int = 0
    members_active: int = 0
    # Active in the window and enrolled in it.
    new_members: int = 0
    members_at_start: int = 0
    # With a purchase in the window (any currency), and with two or more.
    purchasing_members: int = 0
    repeat_purchasers: int = 0
    # Purchases in the window in the program currency: of all the members, and of the members at the start;
    # and the members at the start's purchases in the previous window.
    revenue_minor: int = 0
    existing_member_revenue_minor: int = 0
    existing_member_previous_revenue_minor: int = 0
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    # Points held at the end of the window, net of points owed back after refunds.
    points_outstanding: int = 0
    rewards_redeemed: int = 0


@dataclass(frozen=True)
class SurveySums(_Sums):
    """Survey answers submitted in the window, counted for the service scores."""

    answers: int = 0
    # Recommend 9-10, and 0-6.
    promoters: int = 0
    detractors: int = 0
    # The sum of the efforts (1-7).
    effort: int = 0
    # Satisfaction 4 or 5.
    satisfied: int = 0


@dataclass(frozen=True)
class TierFacts:
    """The facts of the members of a segment who hold `tier` at the end of the window.

    Members hold one tier each, so the facts of a segment are the sums of its tiers' facts.
    """

    tier: str
    members: MemberSums = MemberSums()
    surveys: SurveySums = SurveySums()
    # (from tier, to tier, upgrade) -> tier changes in the window.
    tier_moves: Mapping[tuple[str, str, bool], int] = field(default_factory=dict)
    # partner id -> (accruals, points, members) of the partner accruals in the window.
    accruals: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowFacts:
    """Everything the KPIs of a window need, summed per tier held at its end.

    `tiers`: all the members enrolled before the window's end; `partners`: per partner, the members who
    accrued with it in the window (a member who accrued with two partners is in both).
    """

    window: Window
    tiers: Sequence[TierFacts] = ()
    partners: Mapping[str, Sequence[TierFacts]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceScores:
    surveys: int
    nps: float | None
    ces: float | None
    csat: float | None


@dataclass(frozen=True)
class PartnerVolume:
    partner_id: str
    accruals: int
    points: int
    members: int


@dataclass(frozen=True)
class TierMovement:
    from_tier: str
    to_tier: str
    upgrade: bool
    members: int


@dataclass(frozen=True)
class Kpis:
    members_enrolled: int
    members_total: int
    members_active: int
    purchasing_members: int
    repeat_purchasers: int
    repeat_purchase_rate: float | None
    members_at_start: int
    members_at_end: int
    new_members: int
    customer_retention_rate: float | None
    revenue_minor: int
    existing_member_revenue_minor: int
    existing_member_previous_revenue_minor: int
    net_revenue_retention: float | None
    points_earned: int
    points_redeemed: int
    points_expired: int
    redemption_rate: float | None
    breakage_rate: float | None
    points_outstanding: int
    liability_minor: int
    rewards_redeemed: int
    tier_distribution: dict[str, int] = field(default_factory=dict)
    tier_movements: list[TierMovement] = field(default_factory=list)
    service: ServiceScores = ServiceScores(0, None, None, None)
    partner_accruals: list[PartnerVolume] = field(default_factory=list)


@dataclass(frozen=True)
class Valuation:
    """What a point costs the program, in the minor unit of its currency."""

    cost_per_point: Decimal
    currency_exponent: int

    def liability_minor(self, points: int) -> int:
        minor = Decimal(points) * self.cost_per_point * (Decimal(10) ** self.currency_exponent)
        return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when there is no whole to divide by."""
    return part / whole if whole else None


def compute(segment: Sequence[TierFacts], valuation: Valuation) -> Kpis:
    """The KPIs of the members of `segment` (its facts per tier held at the end of the window)."""
    m = sum((t.members for t in segment), MemberSums())
    moves: Counter[tuple[str, str, bool]] = Counter()
    accruals: dict[str, tuple[int, int, int]] = {}
    for tier in segment:
        moves.update(tier.tier_moves)
        for partner_id, volume in tier.accruals.items():
            accruals[partner_id] = _plus(accruals.get(partner_id, (0, 0, 0)), volume)
    return Kpis(
        members_enrolled=m.members_enrolled,
        members_total=m.members_total,
        members_active=m.members_active,
        purchasing_members=m.purchasing_members,
        repeat_purchasers=m.repeat_purchasers,
        repeat_purchase_rate=ratio(m.repeat_purchasers, m.purchasing_members),
        members_at_start=m.members_at_start,
        members_at_end=m.members_active,
        new_members=m.new_members,
        # A member active now who was neither active before nor new (coming back) counts as retained.
        customer_retention_rate=ratio(m.members_active - m.new_members, m.members_at_start),
        revenue_minor=m.revenue_minor,
        existing_member_revenue_minor=m.existing_member_revenue_minor,
        existing_member_previous_revenue_minor=m.existing_member_previous_revenue_minor,
        net_revenue_retention=ratio(m.existing_member_revenue_minor, m.existing_member_previous_revenue_minor),
        points_earned=m.points_earned,
        points_redeemed=m.points_redeemed,
        points_expired=m.points_expired,
        redemption_rate=ratio(m.points_redeemed, m.points_earned),
        breakage_rate=ratio(m.points_expired, m.points_earned),
        points_outstanding=m.points_outstanding,
        liability_minor=valuation.liability_minor(m.points_outstanding),
        rewards_redeemed=m.rewards_redeemed,
        tier_distribution={
            t.tier: t.members.members_total for t in sorted(segment, key=_tier) if t.members.members_total
        },
        tier_movements=[TierMovement(f, t, up, n) for (f, t, up), n in sorted(moves.items())],
        service=service_scores(sum((t.surveys for t in segment), SurveySums())),
        partner_accruals=[PartnerVolume(p, *volume) for p, volume in sorted(accruals.items())],
    )


def service_scores(answers: SurveySums) -> ServiceScores:
    if not answers.answers:
        return ServiceScores(0, None, None, None)
    return ServiceScores(
        surveys=answers.answers,
        nps=percent(answers.promoters, answers.answers) - percent(answers.detractors, answers.answers),
        ces=answers.effort / answers.answers,
        csat=percent(answers.satisfied, answers.answers),
    )


def _plus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _tier(facts: TierFacts) -> str:
    return facts.tier


def total(facts: WindowFacts) -> Sequence[TierFacts]:
    """Every member enrolled before the window's end."""
    return facts.tiers


def by_tier(facts: WindowFacts) -> dict[str, Sequence[TierFacts]]:
    """A segment per tier: the members who hold it at the end of the window."""
    return {t.tier: [t] for t in sorted(facts.tiers, key=_tier) if t.members.members_total}


def by_partner(facts: WindowFacts) -> dict[str, Sequence[TierFacts]]:
    """A segment per partner: the members who accrued with it in the window (their partner accruals: its own)."""
    return {
        partner_id: [replace(t, accruals={p: v for p, v in t.accruals.items() if p == partner_id}) for t in tiers]
        for partner_id, tiers in sorted(facts.partners.items())
    }


def months(first: datetime, count: int) -> list[Window]:
    """`count` calendar-month windows starting with the month of `first` (its time zone)."""
    start = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    windows = []
    for _ in range(count):
        following = (start + timedelta(days=32)).replace(day=1)
        windows.append(Window(start, following))
        start = following
    return windows
