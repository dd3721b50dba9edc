"""Each KPI formula of services/insights/kpis.py on small hand-computed cases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.common.service_scores import average, csat, nps
from services.common.settings import SettingsError
from services.insights import kpis
from services.insights.dashboard import STATIC, presented_token
from services.insights.kpis import MemberSums, SurveySums, TierFacts, Valuation, Window, WindowFacts
from services.insights.settings import insights_settings

MARCH = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
CENTS = Valuation(Decimal("0.01"), 2)


def sums(**counted: int) -> MemberSums:
    """The sums of some members: members_total defaults to 1."""
    return MemberSums(**({"members_total": 1} | counted))


def compute(*tiers: TierFacts) -> kpis.Kpis:
    return kpis.compute(tiers, CENTS)


def base(**counted: int) -> TierFacts:
    return TierFacts("base", sums(**counted))


def test_the_previous_window_has_the_same_length_and_ends_at_the_start() -> None:
    assert MARCH.previous == Window(datetime(2026, 1, 29, tzinfo=UTC), MARCH.start)


def test_repeat_purchase_rate_is_the_share_of_purchasing_members_with_two_or_more() -> None:
    # Bought 3, 1 and 2 times; a fourth member bought nothing.
    k = compute(base(members_total=4, purchasing_members=3, repeat_purchasers=2))
    assert (k.purchasing_members, k.repeat_purchasers, k.repeat_purchase_rate) == (3, 2, pytest.approx(2 / 3))
    assert compute(base()).repeat_purchase_rate is None


def test_retention_is_members_at_end_less_new_members_over_members_at_start() -> None:
    # kept (active before and now), lost (active before only), back (active now, neither active before nor new:
    # counts as retained), new (enrolled and active now), idle-new (enrolled now, inactive).
    k = compute(base(members_total=5, members_at_start=2, members_active=3, new_members=1, members_enrolled=2))
    assert (k.members_at_start, k.members_at_end, k.new_members, k.members_enrolled) == (2, 3, 1, 2)
    assert k.customer_retention_rate == pytest.approx((3 - 1) / 2)
    # Two members coming back and one kept, of a single member at the start: above 100%, as the formula has it.
    assert compute(base(members_total=3, members_at_start=1, members_active=3)).customer_retention_rate == 3.0
    assert compute(base(members_active=1, new_members=1, members_enrolled=1)).customer_retention_rate is None


def test_net_revenue_retention_follows_only_the_members_at_the_start() -> None:
    # grew (3000 from 2000), churned (0 from 1000), new (9999, not at the start).
    k = compute(
        base(
            members_total=3,
            members_at_start=2,
            revenue_minor=12999,
            existing_member_revenue_minor=3000,
            existing_member_previous_revenue_minor=3000,
        )
    )
    assert (k.existing_member_revenue_minor, k.existing_member_previous_revenue_minor) == (3000, 3000)
    assert k.net_revenue_retention == pytest.approx(1.0)
    assert k.revenue_minor == 12999
    assert compute(base(revenue_minor=500, existing_member_revenue_minor=500)).net_revenue_retention is None


def test_redemption_and_breakage_rates_divide_by_points_earned() -> None:
    k = compute(base(points_earned=800, points_redeemed=200, points_expired=40), base(points_earned=200))
    assert (k.redemption_rate, k.breakage_rate) == (pytest.approx(0.2), pytest.approx(0.04))
    nothing_earned = compute(base(points_redeemed=5, points_expired=5))
    assert (nothing_earned.redemption_rate, nothing_earned.breakage_rate) == (None, None)


def test_liability_is_outstanding_points_times_the_cost_rounded_half_up_to_the_minor_unit() -> None:
    k = compute(base(points_outstanding=1000), TierFacts("gold", sums(points_outstanding=890)))
    assert (k.points_outstanding, k.liability_minor) == (1890, 1890)
    assert Valuation(Decimal("0.0125"), 2).liability_minor(1890) == 2363  # 23.625
    assert Valuation(Decimal("0.0125"), 2).liability_minor(-1890) == -2363
    assert Valuation(Decimal("0.5"), 0).liability_minor(3) == 2  # JPY: 1.5 yen rounds to 2
    assert Valuation(Decimal("0.001"), 3).liability_minor(7) == 7  # BHD has three decimals


def test_service_scores_tiers_and_partners() -> None:
    # Answers (effort, satisfaction, recommend): gold a 2/5/10 and b 4/3/7, base c 6/2/3.
    gold = TierFacts(
        "gold",
        sums(members_total=2, rewards_redeemed=1),
        surveys=SurveySums(answers=2, promoters=1, detractors=0, effort=6, satisfied=1),
        tier_moves={("silver", "gold", True): 2},
        accruals={"sky": (3, 900, 2), "inn": (1, 50, 1)},
    )
    base_tier = TierFacts(
        "base",
        sums(rewards_redeemed=1),
        surveys=SurveySums(answers=1, promoters=0, detractors=1, effort=6, satisfied=0),
        tier_moves={("gold", "base", False): 1},
        accruals={"sky": (1, 100, 1)},
    )
    k = compute(gold, base_tier)
    assert (k.service.surveys, k.service.nps, k.service.ces, k.service.csat) == (
        3,
        pytest.approx(0.0),
        pytest.approx(4.0),
        pytest.approx(100 / 3),
    )
    assert (k.members_total, k.rewards_redeemed, k.tier_distribution) == (3, 2, {"base": 1, "gold": 2})
    assert [(m.from_tier, m.to_tier, m.upgrade, m.members) for m in k.tier_movements] == [
        ("gold", "base", False, 1),
        ("silver", "gold", True, 2),
    ]
    assert [(p.partner_id, p.accruals, p.points, p.members) for p in k.partner_accruals] == [
        ("inn", 1, 50, 1),
        ("sky", 4, 1000, 3),
    ]
    assert compute(base()).service == kpis.ServiceScores(0, None, None, None)
    assert compute().tier_distribution == {}


def test_segments_by_tier_and_by_partner() -> None:
    gold, base_tier = TierFacts("gold", sums(members_total=1)), TierFacts("base", sums(members_total=2))
    # a (gold) accrued with sky and inn, b (base) with sky.
    sky = [
        TierFacts("gold", sums(), accruals={"sky": (1, 10, 1), "inn": (1, 20, 1)}),
        TierFacts("base", sums(), accruals={"sky": (1, 30, 1)}),
    ]
    inn = [TierFacts("gold", sums(), accruals={"sky": (1, 10, 1), "inn": (1, 20, 1)})]
    facts = WindowFacts(MARCH, [gold, base_tier], {"sky": sky, "inn": inn})
    assert kpis.total(facts) == [gold, base_tier]
    assert kpis.by_tier(facts) == {"base": [base_tier], "gold": [gold]}
    partners = kpis.by_partner(facts)
    assert list(partners) == ["inn", "sky"]
    # A partner's segment counts its members' accruals with it only.
    assert [t.accruals for t in partners["inn"]] == [{"inn": (1, 20, 1)}]
    assert [t.accruals for t in partners["sky"]] == [{"sky": (1, 10, 1)}, {"sky": (1, 30, 1)}]
    sky_kpis = kpis.compute(partners["sky"], CENTS)
    assert (sky_kpis.members_total, sky_kpis.tier_distribution) == (2, {"base": 1, "gold": 1})
    assert [(p.partner_id, p.accruals, p.points, p.members) for p in sky_kpis.partner_accruals] == [("sky", 2, 40, 2)]


def test_sums_add_up_field_by_field() -> None:
    assert sums(points_earned=5, new_members=1) + sums(points_earned=7) == sums(
        members_total=2, points_earned=12, new_members=1
    )
    assert SurveySums(1, 1, 0, 3, 1) + SurveySums(2, 0, 1, 9, 1) == SurveySums(3, 1, 1, 12, 2)


def test_service_scores_are_those_of_the_shared_formulas() -> None:
    recommend, effort, satisfaction = [10, 9, 7, 3, 0], [1, 2, 7, 7, 6], [5, 4, 3, 1, 2]
    answers = SurveySums(answers=5, promoters=2, detractors=2, effort=sum(effort), satisfied=2)
    scores = kpis.service_scores(answers)
    assert (scores.nps, scores.ces, scores.csat) == (nps(recommend), average(effort), csat(satisfaction))


def test_months_are_calendar_months() -> None:
    windows = kpis.months(datetime(2025, 11, 17, 8, tzinfo=UTC), 3)
    assert [(w.start.month, w.end.month, w.end.year) for w in windows] == [(11, 12, 2025), (12, 1, 2026), (1, 2, 2026)]


def test_settings_have_defaults_and_refuse_nonsense() -> None:
    defaults = insights_settings({})
    assert (defaults.dashboard_port, defaults.currency, defaults.cost_per_point) == (8094, "USD", Decimal("0.01"))
    assert insights_settings({"LOYALTY_INSIGHTS_CURRENCY": "JPY"}).currency_exponent == 0
    for env in (
        {"LOYALTY_INSIGHTS_CURRENCY": "usd"},
        {"LOYALTY_INSIGHTS_COST_PER_POINT": "a cent"},
        {"LOYALTY_INSIGHTS_COST_PER_POINT": "-0.01"},
        {"LOYALTY_INSIGHTS_DASHBOARD_PORT": "http"},
    ):
        with pytest.raises(SettingsError):
            insights_settings(env)


def test_the_dashboard_takes_a_bearer_token_or_basic_auth_with_the_token_as_password() -> None:
    assert presented_token("Bearer admin-token-0123456789") == "admin-token-0123456789"
    assert presented_token("Basic YW55b25lOmFkbWluLXRva2VuLTAxMjM0NTY3ODk=") == "admin-token-0123456789"
    assert presented_token("Basic !!!") == ""
    assert presented_token("Digest x") == ""


def test_the_vendored_chart_js_is_the_recorded_release() -> None:
    notes = (STATIC / "README.md").read_text()
    digest = hashlib.sha256(Path(STATIC / "chart.umd.min.js").read_bytes()).hexdigest()
    assert "**4.6.1**" in notes and digest in notes
    assert (STATIC / "chart.umd.min.js").read_text().startswith("/*!\n * Chart.js v4.6.1")
