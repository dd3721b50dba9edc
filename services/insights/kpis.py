"""The program KPIs of a window, from facts about members. Pure: docs/insights.md gives each formula.

A window is [start, end). "The previous window" is the window of the same
length that ends where this one starts. A member is *active* in a window when
they made a purchase or accrued points with a partner in it; the members at
the start of a window are the members active in the previous window, the
members at its end those active in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.common.service_scores import average, csat, nps


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class MemberFacts:
    """What one member (enrolled before the window's end) did, as of the window."""

    member_id: str
    enrolled_at: datetime
    # The tier held at the end of the window.
    tier: str
    # Purchases in the window (any currency), and their amount in the program currency.
    purchases: int = 0
    revenue_minor: int = 0
    # Amount of purchases in the previous window, in the program currency.
    previous_revenue_minor: int = 0
    # Partners the member accrued with in the window; whether they accrued with any in the previous one.
    partners: frozenset[str] = frozenset()
    active_before: bool = False
    points_earned: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    # Points held at the end of the window, net of points owed back after refunds.
    points_outstanding: int = 0
    rewards_redeemed: int = 0

    @property
    def active(self) -> bool:
        return self.purchases > 0 or bool(self.partners)


@dataclass(frozen=True)
class SurveyAnswer:
    member_id: str
    effort: int
    satisfaction: int
    recommend: int


@dataclass(frozen=True)
class TierMove:
    member_id: str
    from_tier: str
    to_tier: str
    upgrade: bool


@dataclass(frozen=True)
class Accrual:
    """A member's partner accruals with one partner in the window."""

    partner_id: str
    member_id: str
    accruals: int
    points: int


@dataclass(frozen=True)
class WindowFacts:
    window: Window
    members: Sequence[MemberFacts]
    surveys: Sequence[SurveyAnswer] = ()
    tier_moves: Sequence[TierMove] = ()
    accruals: Sequence[Accrual] = ()


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


def compute(facts: WindowFacts, valuation: Valuation) -> Kpis:
    """The KPIs of the members in `facts`, over its window."""
    window, members = facts.window, facts.members
    enrolled_in_window = [m for m in members if m.enrolled_at >= window.start]
    purchasing = [m for m in members if m.purchases > 0]
    at_start = [m for m in members if m.active_before]
    at_end = [m for m in members if m.active]
    new_at_end = [m for m in at_end if m.enrolled_at >= window.start]
    existing_revenue = sum(m.revenue_minor for m in at_start)
    existing_previous_revenue = sum(m.previous_revenue_minor for m in at_start)
    earned = sum(m.points_earned for m in members)
    redeemed = sum(m.points_redeemed for m in members)
    expired = sum(m.points_expired for m in members)
    outstanding = sum(m.points_outstanding for m in members)
    repeaters = sum(1 for m in purchasing if m.purchases >= 2)
    return Kpis(
        members_enrolled=len(enrolled_in_window),
        members_total=len(members),
        members_active=len(at_end),
        purchasing_members=len(purchasing),
        repeat_purchasers=repeaters,
        repeat_purchase_rate=ratio(repeaters, len(purchasing)),
        members_at_start=len(at_start),
        members_at_end=len(at_end),
        new_members=len(new_at_end),
        customer_retention_rate=ratio(len(at_end) - len(new_at_end), len(at_start)),
        revenue_minor=sum(m.revenue_minor for m in members),
        existing_member_revenue_minor=existing_revenue,
        existing_member_previous_revenue_minor=existing_previous_revenue,
        net_revenue_retention=ratio(existing_revenue, existing_previous_revenue),
        points_earned=earned,
        points_redeemed=redeemed,
        points_expired=expired,
        redemption_rate=ratio(redeemed, earned),
        breakage_rate=ratio(expired, earned),
        points_outstanding=outstanding,
        liability_minor=valuation.liability_minor(outstanding),
        rewards_redeemed=sum(m.rewards_redeemed for m in members),
        tier_distribution=dict(sorted(Counter(m.tier for m in members).items())),
        tier_movements=_movements(facts.tier_moves),
        service=service_scores(facts.surveys),
        partner_accruals=_partner_volumes(facts.accruals),
    )


def service_scores(answers: Sequence[SurveyAnswer]) -> ServiceScores:
    if not answers:
        return ServiceScores(0, None, None, None)
    return ServiceScores(
        surveys=len(answers),
        nps=nps([a.recommend for a in answers]),
        ces=average([a.effort for a in answers]),
        csat=csat([a.satisfaction for a in answers]),
    )


def _movements(moves: Iterable[TierMove]) -> list[TierMovement]:
    counted = Counter((m.from_tier, m.to_tier, m.upgrade) for m in moves)
    return [TierMovement(f, t, up, n) for (f, t, up), n in sorted(counted.items())]


def _partner_volumes(accruals: Iterable[Accrual]) -> list[PartnerVolume]:
    by_partner: dict[str, list[Accrual]] = {}
    for accrual in accruals:
        by_partner.setdefault(accrual.partner_id, []).append(accrual)
    return [
        PartnerVolume(
            partner_id,
            accruals=sum(a.accruals for a in rows),
            points=sum(a.points for a in rows),
            members=len({a.member_id for a in rows}),
        )
        for partner_id, rows in sorted(by_partner.items())
    ]


def only(facts: WindowFacts, keep: Callable[[str], bool]) -> WindowFacts:
    """The facts of the members `keep` accepts (by member id)."""
    return WindowFacts(
        window=facts.window,
        members=[m for m in facts.members if keep(m.member_id)],
        surveys=[s for s in facts.surveys if keep(s.member_id)],
        tier_moves=[t for t in facts.tier_moves if keep(t.member_id)],
        accruals=[a for a in facts.accruals if keep(a.member_id)],
    )


def by_tier(facts: WindowFacts) -> dict[str, WindowFacts]:
    """A segment per tier: the members who hold it at the end of the window."""
    tiers: dict[str, set[str]] = {}
    for member in facts.members:
        tiers.setdefault(member.tier, set()).add(member.member_id)
    return {tier: only(facts, ids.__contains__) for tier, ids in sorted(tiers.items())}


def by_partner(facts: WindowFacts) -> dict[str, WindowFacts]:
    """A segment per partner: the members who accrued with it in the window (their partner accruals: its own)."""
    partners: dict[str, set[str]] = {}
    for member in facts.members:
        for partner_id in member.partners:
            partners.setdefault(partner_id, set()).add(member.member_id)
    segments = {}
    for partner_id, ids in sorted(partners.items()):
        segment = only(facts, ids.__contains__)
        own = [a for a in segment.accruals if a.partner_id == partner_id]
        segments[partner_id] = WindowFacts(segment.window, segment.members, segment.surveys, segment.tier_moves, own)
    return segments


def months(first: datetime, count: int) -> list[Window]:
    """`count` calendar-month windows starting with the month of `first` (its time zone)."""
    start = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    windows = []
    for _ in range(count):
        following = (start + timedelta(days=32)).replace(day=1)
        windows.append(Window(start, following))
        start = following
    return windows
