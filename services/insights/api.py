"""gRPC servicer of loyalty.insights.v1: requests to use cases, KPIs to messages."""

from __future__ import annotations

from typing import Any

import grpc
from loyalty.common.v1.common_pb2 import Money
from loyalty.insights.v1 import insights_pb2 as pb
from loyalty.insights.v1 import insights_pb2_grpc

from services.common.errors import Violations
from services.common.events import timestamp
from services.common.proto_time import required_time
from services.insights import kpis
from services.insights.application import Grouping, InsightsApplication, Report

_GROUPINGS = {
    pb.GROUPING_UNSPECIFIED: Grouping.NONE,
    pb.GROUPING_TIER: Grouping.TIER,
    pb.GROUPING_PARTNER: Grouping.PARTNER,
}


class InsightsServicer(insights_pb2_grpc.InsightsServiceServicer):
    def __init__(self, insights: InsightsApplication) -> None:
        self._insights = insights

    async def GetKpis(
        self, request: pb.GetKpisRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetKpisResponse:
        violations = Violations()
        start = required_time(violations, "from_time", request)
        end = required_time(violations, "to_time", request)
        grouping = _GROUPINGS.get(request.group_by)
        if grouping is None:
            violations.add("group_by", f"unknown grouping {request.group_by}")
        violations.raise_if_any()
        assert grouping is not None
        report = await self._insights.report(kpis.Window(start, end), grouping)
        return report_message(report, self._insights)


def report_message(report: Report, insights: InsightsApplication) -> pb.GetKpisResponse:
    def money(minor: int) -> Money:
        return Money(amount_minor=minor, currency_code=insights.currency)

    def message(k: kpis.Kpis) -> pb.Kpis:
        return pb.Kpis(
            members_enrolled=k.members_enrolled,
            members_total=k.members_total,
            members_active=k.members_active,
            purchasing_members=k.purchasing_members,
            repeat_purchasers=k.repeat_purchasers,
            repeat_purchase_rate=k.repeat_purchase_rate,
            members_at_start=k.members_at_start,
            members_at_end=k.members_at_end,
            new_members=k.new_members,
            customer_retention_rate=k.customer_retention_rate,
            revenue=money(k.revenue_minor),
            existing_member_revenue=money(k.existing_member_revenue_minor),
            existing_member_previous_revenue=money(k.existing_member_previous_revenue_minor),
            net_revenue_retention=k.net_revenue_retention,
            points_earned=k.points_earned,
            points_redeemed=k.points_redeemed,
            points_expired=k.points_expired,
            redemption_rate=k.redemption_rate,
            breakage_rate=k.breakage_rate,
            points_outstanding=k.points_outstanding,
            liability=money(k.liability_minor),
            tier_distribution=[pb.TierCount(tier=t, members=n) for t, n in k.tier_distribution.items()],
            tier_movements=[
                pb.TierMovement(from_tier=m.from_tier, to_tier=m.to_tier, upgrade=m.upgrade, members=m.members)
                for m in k.tier_movements
            ],
            service=pb.ServiceScores(
                surveys=k.service.surveys, nps=k.service.nps, ces=k.service.ces, csat=k.service.csat
            ),
            partner_accruals=[
                pb.PartnerVolume(partner_id=p.partner_id, accruals=p.accruals, points=p.points, members=p.members)
                for p in k.partner_accruals
            ],
            rewards_redeemed=k.rewards_redeemed,
        )

    key = "tier" if report.grouping is Grouping.TIER else "partner_id"
    return pb.GetKpisResponse(
        from_time=timestamp(report.window.start),
        to_time=timestamp(report.window.end),
        currency_code=insights.currency,
        cost_per_point=str(insights.valuation.cost_per_point),
        total=message(report.total),
        segments=[pb.Segment(**{key: name}, kpis=message(k)) for name, k in report.segments],
    )
