"""gRPC servicer for loyalty.points.v1.ProgramService: protobuf in, program use cases, protobuf out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from loyalty.common.v1.common_pb2 import Money
from loyalty.points.v1 import program_pb2 as pb
from loyalty.points.v1 import program_pb2_grpc

from services.common.decimals import decimal_text
from services.common.events import timestamp
from services.common.proto_time import to_datetime
from services.points.domain import utc_now
from services.points.program import (
    BirthdayWhen,
    Bonuses,
    BonusPer,
    LimitPer,
    Program,
    Rounding,
    Rule,
    SpentPoints,
    TierBasis,
    TierPolicy,
    TierWindow,
)
from services.points.program_application import ApplyOutcome, ProgramApplication, ProgramVersion

_OUTCOME = {
    ApplyOutcome.CREATED: pb.APPLY_OUTCOME_CREATED,
    ApplyOutcome.UNCHANGED: pb.APPLY_OUTCOME_UNCHANGED,
    ApplyOutcome.VALIDATED: pb.APPLY_OUTCOME_VALIDATED,
}
_ROUNDING = {
    Rounding.DOWN: pb.PROGRAM_ROUNDING_DOWN,
    Rounding.HALF_UP: pb.PROGRAM_ROUNDING_HALF_UP,
    Rounding.UP: pb.PROGRAM_ROUNDING_UP,
}
_BIRTHDAY_WHEN = {BirthdayWhen.MONTH: pb.PROGRAM_BIRTHDAY_WHEN_MONTH, BirthdayWhen.DAY: pb.PROGRAM_BIRTHDAY_WHEN_DAY}
_LIMIT_PER = {
    LimitPer.EVER: pb.PROGRAM_LIMIT_PER_EVER,
    LimitPer.MONTH: pb.PROGRAM_LIMIT_PER_MONTH,
    LimitPer.YEAR: pb.PROGRAM_LIMIT_PER_YEAR,
}
_SPENT_POINTS = {
    SpentPoints.DEBT: pb.PROGRAM_SPENT_POINTS_DEBT,
    SpentPoints.NEGATIVE_BALANCE: pb.PROGRAM_SPENT_POINTS_NEGATIVE_BALANCE,
}
_BASIS = {TierBasis.POINTS: pb.PROGRAM_TIER_BASIS_POINTS, TierBasis.SPEND: pb.PROGRAM_TIER_BASIS_SPEND}
_WINDOW = {
    TierWindow.CALENDAR_YEAR: pb.PROGRAM_TIER_WINDOW_CALENDAR_YEAR,
    TierWindow.ROLLING: pb.PROGRAM_TIER_WINDOW_ROLLING,
}


class ProgramServicer(program_pb2_grpc.ProgramServiceServicer):
    def __init__(self, programs: ProgramApplication) -> None:
        self._programs = programs

    async def ApplyProgram(
        self, request: pb.ApplyProgramRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ApplyProgramResponse:
        result = await self._programs.apply(request.definition, dry_run=request.dry_run)
        return pb.ApplyProgramResponse(program=version_message(result.version), outcome=_OUTCOME[result.outcome])

    async def GetProgram(
        self, request: pb.GetProgramRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetProgramResponse:
        at = _moment(request) if request.HasField("at") else utc_now()
        return pb.GetProgramResponse(program=version_message(await self._programs.in_force(request.program_id, at)))


def _moment(request: pb.GetProgramRequest) -> datetime:
    return to_datetime(request.at, "at")


def version_message(version: ProgramVersion) -> pb.ProgramVersion:
    return pb.ProgramVersion(
        program_id=version.program_id,
        version=version.version,
        effective_from=timestamp(version.effective_from),
        created_at=timestamp(version.created_at) if version.created_at else None,
        definition=version.definition,
        program=program_message(version.program),
    )


def program_message(program: Program) -> pb.Program:
    earning, expiry = program.earning, program.expiry
    return pb.Program(
        name=program.name,
        currency=program.currency,
        timezone=program.timezone,
        base_rates={code: decimal_text(rate) for code, rate in earning.base_rates.items()},
        rounding=_ROUNDING[earning.rounding],
        rules=[rule_message(rule) for rule in earning.rules],
        campaigns=[rule_message(campaign) for campaign in earning.campaigns],
        per_purchase_cap=earning.caps.per_purchase or 0,
        per_day_cap=earning.caps.per_day or 0,
        tiers=_tiers_message(program.tiers) if program.tiers else None,
        pending_days=program.pending_days,
        expiry_months_after_earning=expiry.months_after_earning or 0,
        expiry_inactivity_months=expiry.inactivity_months or 0,
        expiry_reminder_days=expiry.reminder_days,
        bonuses=_bonuses_message(program.bonuses, program.currency),
        refund_spent_points=_SPENT_POINTS[program.spent_points],
    )


def _bonuses_message(bonuses: Bonuses, currency: str) -> pb.ProgramBonuses:
    birthday, referral = bonuses.birthday, bonuses.referral
    return pb.ProgramBonuses(
        signup_points=bonuses.signup_points or 0,
        birthday=pb.ProgramBirthdayBonus(points=birthday.points, when=_BIRTHDAY_WHEN[birthday.when])
        if birthday
        else None,
        referral=pb.ProgramReferralBonus(
            referrer_points=referral.referrer_points,
            referee_points=referral.referee_points,
            minimum_spend=Money(amount_minor=referral.minimum_spend_minor, currency_code=currency)
            if referral.minimum_spend_minor
            else None,
        )
        if referral
        else None,
        activities=[
            pb.ProgramActivity(
                id=activity.id,
                description=activity.description,
                points=activity.points,
                limit_count=activity.limit.count,
                limit_per=_LIMIT_PER[activity.limit.per],
            )
            for activity in bonuses.activities
        ],
    )


def rule_message(rule: Rule) -> pb.ProgramRule:
    min_spend = sorted(rule.match.min_spend.items())
    return pb.ProgramRule(
        id=rule.id,
        description=rule.description,
        multiplier=str(rule.multiplier) if rule.multiplier is not None else "",
        bonus_points=rule.bonus_points or 0,
        bonus_per_unit=rule.bonus_points is not None and rule.per is BonusPer.UNIT,
        skus=sorted(rule.match.skus),
        categories=sorted(rule.match.categories),
        channels=sorted(rule.match.channels),
        min_spend=[Money(amount_minor=amount, currency_code=code) for code, amount in min_spend],
        starts_at=timestamp(rule.window.starts_at) if rule.window else None,
        ends_at=timestamp(rule.window.ends_at) if rule.window else None,
    )


def _tiers_message(tiers: TierPolicy) -> pb.ProgramTiers:
    return pb.ProgramTiers(
        basis=_BASIS[tiers.basis],
        window=_WINDOW[tiers.window],
        window_months=tiers.window_months or 0,
        downgrade_steps=tiers.downgrade_steps,
        levels=[
            pb.ProgramTier(name=t.name, threshold=str(t.threshold), earn_bonus_percent=str(t.earn_bonus_percent))
            for t in tiers.levels
        ],
    )
