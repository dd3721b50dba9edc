"""Each KPI formula of services/insights/kpis.py on small hand-computed cases."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from services.common.settings import SettingsError
from services.insights import kpis
from services.insights.dashboard import STATIC, presented_token
from services.insights.kpis import Accrual, MemberFacts, SurveyAnswer, TierMove, Valuation, Window, WindowFacts
from services.insights.settings import insights_settings

MARCH = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
OLD = datetime(2025, 1, 1, tzinfo=UTC)
NEW = datetime(2026, 3, 10, tzinfo=UTC)
CENTS = Valuation(Decimal("0.01"), 2)


def member(member_id: str, **facts: object) -> MemberFacts:
    values: dict[str, object] = {"member_id": member_id, "enrolled_at": OLD, "tier": "base"} | facts
    return MemberFacts(**values)  # type: ignore[arg-type]


def compute(*members: MemberFacts, **more: object) -> kpis.Kpis:
    return kpis.compute(WindowFacts(MARCH, members, **more), CENTS)  # type: ignore[arg-type]


def test_the_previous_window_has_the_same_length_and_ends_at_the_start() -> None:
    assert MARCH.previous == Window(datetime(2026, 1, 29, tzinfo=UTC), MARCH.start)


def test_repeat_purchase_rate_is_the_share_of_purchasing_members_with_two_or_more() -> None:
    k = compute(member("a", purchases=3), member("b", purchases=1), member("c", purchases=2), member("d"))
    assert (k.purchasing_members, k.repeat_purchasers, k.repeat_purchase_rate) == (3, 2, pytest.approx(2 / 3))
    assert compute(member("d")).repeat_purchase_rate is None


def test_retention_is_members_at_end_less_new_members_over_members_at_start() -> None:
    k = compute(
        member("kept", active_before=True, purchases=1),
        member("lost", active_before=True),
        member("back", partners=frozenset({"sky"})),  # not active before, not new: counts as retained
        member("new", enrolled_at=NEW, purchases=1),
        member("idle-new", enrolled_at=NEW),
    )
    assert (k.members_at_start, k.members_at_end, k.new_members, k.members_enrolled) == (2, 3, 1, 2)
    assert k.customer_retention_rate == pytest.approx((3 - 1) / 2)
    assert compute(member("new", enrolled_at=NEW, purchases=1)).customer_retention_rate is None


def test_net_revenue_retention_follows_only_the_members_at_the_start() -> None:
    k = compute(
        member("grew", active_before=True, revenue_minor=3000, previous_revenue_minor=2000),
        member("churned", active_before=True, previous_revenue_minor=1000),
        member("new", enrolled_at=NEW, revenue_minor=9999),
    )
    assert (k.existing_member_revenue_minor, k.existing_member_previous_revenue_minor) == (3000, 3000)
    assert k.net_revenue_retention == pytest.approx(1.0)
    assert k.revenue_minor == 12999


def test_redemption_and_breakage_rates_divide_by_points_earned() -> None:
    k = compute(member("a", points_earned=800, points_redeemed=200, points_expired=40), member("b", points_earned=200))
    assert (k.redemption_rate, k.breakage_rate) == (pytest.approx(0.2), pytest.approx(0.04))
    assert compute(member("a", points_redeemed=5)).redemption_rate is None


def test_liability_is_outstanding_points_times_the_cost_rounded_half_up_to_the_minor_unit() -> None:
    k = compute(member("a", points_outstanding=1000), member("b", points_outstanding=890))
    assert (k.points_outstanding, k.liability_minor) == (1890, 1890)
    assert Valuation(Decimal("0.0125"), 2).liability_minor(1890) == 2363  # 23.625
    assert Valuation(Decimal("0.0125"), 2).liability_minor(-1890) == -2363
    assert Valuation(Decimal("0.5"), 0).liability_minor(3) == 2  # JPY: 1.5 yen rounds to 2
    assert Valuation(Decimal("0.001"), 3).liability_minor(7) == 7  # BHD has three decimals


def test_service_scores_tiers_and_partners() -> None:
    answers = [SurveyAnswer("a", 2, 5, 10), SurveyAnswer("b", 4, 3, 7), SurveyAnswer("c", 6, 2, 3)]
    moves = [
        TierMove("a", "silver", "gold", True),
        TierMove("b", "silver", "gold", True),
        TierMove("c", "gold", "base", False),
    ]
    accruals = [Accrual("sky", "a", 2, 800), Accrual("sky", "b", 1, 100), Accrual("inn", "a", 1, 50)]
    k = compute(
        member("a", tier="gold"),
        member("b", tier="gold"),
        member("c"),
        surveys=answers,
        tier_moves=moves,
        accruals=accruals,
    )
    assert (k.service.surveys, k.service.nps, k.service.ces, k.service.csat) == (
        3,
        pytest.approx(0.0),
        pytest.approx(4.0),
        pytest.approx(100 / 3),
    )
    assert k.tier_distribution == {"base": 1, "gold": 2}
    assert [(m.from_tier, m.to_tier, m.members) for m in k.tier_movements] == [
        ("gold", "base", 1),
        ("silver", "gold", 2),
    ]
    assert [(p.partner_id, p.accruals, p.points, p.members) for p in k.partner_accruals] == [
        ("inn", 1, 50, 1),
        ("sky", 3, 900, 2),
    ]
    assert compute(member("a")).service == kpis.ServiceScores(0, None, None, None)


def test_segments_by_tier_and_by_partner() -> None:
    facts = WindowFacts(
        MARCH,
        [
            member("a", tier="gold", partners=frozenset({"sky", "inn"})),
            member("b", partners=frozenset({"sky"})),
            member("c"),
        ],
        surveys=[SurveyAnswer("a", 1, 5, 10)],
        accruals=[Accrual("sky", "a", 1, 10), Accrual("inn", "a", 1, 20), Accrual("sky", "b", 1, 30)],
    )
    tiers = kpis.by_tier(facts)
    assert {t: [m.member_id for m in f.members] for t, f in tiers.items()} == {"base": ["b", "c"], "gold": ["a"]}
    assert [s.member_id for s in tiers["gold"].surveys] == ["a"]
    partners = kpis.by_partner(facts)
    assert {p: [m.member_id for m in f.members] for p, f in partners.items()} == {"inn": ["a"], "sky": ["a", "b"]}
    assert [(a.partner_id, a.member_id) for a in partners["sky"].accruals] == [("sky", "a"), ("sky", "b")]


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
