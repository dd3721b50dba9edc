"""gRPC servicer for loyalty.points.v1.PointsService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from loyalty.common.v1.common_pb2 import LineItem, Money
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.common.decimals import decimal_text
from services.common.events import timestamp
from services.common.proto_time import to_timedelta
from services.common.unstorable import parsed_time
from services.points import bonuses, domain, schedule, store
from services.points.application import PointsApplication
from services.points.closure import ClosureApplication
from services.points.ledger_application import HoldResult, LedgerApplication
from services.points.program_application import ProgramApplication
from services.points.refunds import RefundApplication
from services.points.tiers import Progress, Requalification

_STATUS = {"active": pb.MEMBER_STATUS_ACTIVE, "closed": pb.MEMBER_STATUS_CLOSED}
_KIND = {
    "purchase_earn": pb.ENTRY_KIND_PURCHASE_EARN,
    "adjustment": pb.ENTRY_KIND_ADJUSTMENT,
    "redemption": pb.ENTRY_KIND_REDEMPTION,
    "refund": pb.ENTRY_KIND_REFUND,
    "partner_earn": pb.ENTRY_KIND_PARTNER_EARN,
    "partner_cancel": pb.ENTRY_KIND_PARTNER_CANCEL,
    "debt_repayment": pb.ENTRY_KIND_DEBT_REPAYMENT,
    "bonus": pb.ENTRY_KIND_BONUS,
    "expiry": pb.ENTRY_KIND_EXPIRY,
    "redemption_return": pb.ENTRY_KIND_REDEMPTION_RETURN,
}
_HOLD_STATUS = {
    "held": pb.HOLD_STATUS_HELD,
    "captured": pb.HOLD_STATUS_CAPTURED,
    "released": pb.HOLD_STATUS_RELEASED,
    "expired": pb.HOLD_STATUS_EXPIRED,
}


class PointsServicer(points_pb2_grpc.PointsServiceServicer):
    def __init__(
        self,
        application: PointsApplication,
        ledger: LedgerApplication,
        refunds: RefundApplication,
        programs: ProgramApplication,
        closures: ClosureApplication,
    ) -> None:
        self._app = application
        self._ledger = ledger
        self._refunds = refunds
        self._programs = programs
        self._closures = closures

    async def EnrollMember(
        self, request: pb.EnrollMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.EnrollMemberResponse:
        member = await self._app.enroll(
            domain.Enrollment(
                request.member_id,
                request.email,
                request.given_name,
                request.family_name,
                birth_date=request.birth_date,
                referrer_member_id=request.referrer_member_id,
            )
        )
        return pb.EnrollMemberResponse(member=member_message(member))

    async def GetMember(
        self, request: pb.GetMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetMemberResponse:
        member = member_message(await self._app.member(request.member_id))
        progress = await self._app.tier_progress(request.member_id)
        if progress is not None:
            member.tier_progress.CopyFrom(progress_message(*progress))
        return pb.GetMemberResponse(member=member)

    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetBalanceResponse:
        member, balances = await self._ledger.member_balances(request.member_id)
        return pb.GetBalanceResponse(
            member_id=member.member_id,
            balance=member.balance,
            lifetime_earned=member.lifetime_earned,
            available=balances.available,
            pending=balances.pending,
            held=balances.held,
            points_owed=member.points_owed,
        )

    async def GetPointsSchedule(
        self, request: pb.GetPointsScheduleRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetPointsScheduleResponse:
        member, points_schedule = await self._ledger.points_schedule(request.member_id)
        return schedule_message(member.member_id, points_schedule)

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListLedgerEntriesResponse:
        page = await self._app.entries(request.member_id, request.page_size, request.page_token)
        return pb.ListLedgerEntriesResponse(
            entries=[entry_message(e) for e in page.entries], next_page_token=page.next_page_token
        )

    async def RecordPurchase(
        self, request: pb.RecordPurchaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RecordPurchaseResponse:
        result = await self._app.record_purchase(purchase_from(request))
        response = pb.RecordPurchaseResponse(
            points_earned=result.points_earned,
            entry=entry_message(result.entry) if result.entry else None,
            duplicate=result.duplicate,
            balance=result.balance,
        )
        response.breakdown.extend(
            pb.EarnComponent(source=c.source, points=c.points, description=c.description) for c in result.breakdown
        )
        terms = result.terms
        response.program_id = terms.program_id
        if terms.available_at is not None:
            response.available_at.CopyFrom(timestamp(terms.available_at))
        if terms.expires_at is not None:
            response.expires_at.CopyFrom(timestamp(terms.expires_at))
        return response

    async def HoldPoints(
        self, request: pb.HoldPointsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HoldPointsResponse:
        ttl = to_timedelta(request.ttl, "ttl") if request.HasField("ttl") else None
        result = await self._ledger.hold(
            request.member_id, request.points, request.idempotency_key, ttl, request.description
        )
        return pb.HoldPointsResponse(hold=hold_message(result), duplicate=result.duplicate)

    async def CaptureHold(
        self, request: pb.CaptureHoldRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CaptureHoldResponse:
        result = await self._ledger.capture(request.hold_id)
        return pb.CaptureHoldResponse(
            hold=hold_message(result), entry=entry_message(result.entry) if result.entry else None
        )

    async def ReleaseHold(
        self, request: pb.ReleaseHoldRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReleaseHoldResponse:
        return pb.ReleaseHoldResponse(hold=hold_message(await self._ledger.release(request.hold_id)))

    async def ReturnCapturedHold(
        self, request: pb.ReturnCapturedHoldRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReturnCapturedHoldResponse:
        result = await self._ledger.return_captured(
            request.hold_id, request.idempotency_key, request.reason, request.actor
        )
        return pb.ReturnCapturedHoldResponse(
            hold=hold_message(HoldResult(result.hold, "captured")),
            entry=entry_message(result.entry),
            points_expired=result.points_expired,
            duplicate=result.duplicate,
        )

    async def AdjustPoints(
        self, request: pb.AdjustPointsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AdjustPointsResponse:
        result = await self._ledger.adjust(
            request.member_id, request.points, request.reason, request.actor, request.idempotency_key
        )
        return pb.AdjustPointsResponse(entry=entry_message(result.entry), duplicate=result.duplicate)

    async def RefundPurchase(
        self, request: pb.RefundPurchaseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RefundPurchaseResponse:
        result = await self._refunds.refund(refund_from(request))
        return pb.RefundPurchaseResponse(
            points_reversed=result.refund.points_reversed,
            points_owed=result.refund.points_owed,
            entry=entry_message(result.entry) if result.entry else None,
            duplicate=result.duplicate,
            points_overdrawn=result.refund.points_overdrawn,
            points_expired=result.refund.points_expired,
        )

    async def RecordActivity(
        self, request: pb.RecordActivityRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RecordActivityResponse:
        occurred_at = _occurred_at(request)
        record = bonuses.ActivityRecord(request.member_id, request.activity_id, request.idempotency_key, occurred_at)
        result = await self._app.record_activity(record)
        return pb.RecordActivityResponse(
            points_earned=result.points_earned,
            entry=entry_message(result.entry),
            duplicate=result.duplicate,
            balance=result.balance,
        )

    async def CloseMember(
        self, request: pb.CloseMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CloseMemberResponse:
        result = await self._closures.close(request.member_id, request.reason, request.actor)
        member = member_message(result.member)
        progress = await self._app.tier_progress(request.member_id)
        if progress is not None:  # as GetMember shows the member
            member.tier_progress.CopyFrom(progress_message(*progress))
        return pb.CloseMemberResponse(
            member=member,
            points_forfeited=result.points_forfeited,
            ledger_entry_id=result.entry_id or "",
            closed_at=timestamp(result.closed_at),
            duplicate=result.duplicate,
        )


class _RefundFields(Protocol):
    """What RefundPurchaseRequest and the PurchaseRefunded event have in common."""

    refund_id: str
    purchase_id: str
    amount: Money
    occurred_at: Timestamp

    def HasField(self, field_name: Literal["occurred_at"]) -> bool: ...


def refund_from(message: _RefundFields) -> domain.Refund:
    occurred_at = _occurred_at(message)
    return domain.Refund(message.refund_id, message.purchase_id, _money(message.amount), occurred_at)


class _PurchaseFields(Protocol):
    """What RecordPurchaseRequest and the PurchaseMade event have in common."""

    purchase_id: str
    member_id: str
    amount: Money
    occurred_at: Timestamp
    channel: str

    @property
    def line_items(self) -> Sequence[LineItem]: ...

    def HasField(self, field_name: Literal["occurred_at"]) -> bool: ...


def purchase_from(message: _PurchaseFields) -> domain.Purchase:
    """Translate either purchase message into the domain's Purchase."""
    return domain.Purchase(
        purchase_id=message.purchase_id,
        member_id=message.member_id,
        amount=_money(message.amount),
        line_items=tuple(
            domain.LineItem(item.sku, item.category, item.quantity, _money(item.unit_price))
            for item in message.line_items
        ),
        occurred_at=_occurred_at(message),
        channel=message.channel,
    )


# Naive, so validation refuses it as a missing occurred_at and names the field.
_MISSING_TIME = datetime.min


def _occurred_at(message: Any) -> datetime:
    """The request's occurred_at; _MISSING_TIME when unset or out of Timestamp's range."""
    stamp = parsed_time(message.occurred_at) if message.HasField("occurred_at") else None
    return stamp or _MISSING_TIME


def _money(money: Money) -> domain.Money:
    return domain.Money(money.amount_minor, money.currency_code)


def member_message(member: store.MemberRow) -> pb.Member:
    return pb.Member(
        member_id=member.member_id,
        email=member.email,
        given_name=member.given_name,
        family_name=member.family_name,
        tier=member.tier,
        status=_STATUS[member.status],
        enrolled_at=timestamp(member.enrolled_at),
        birth_date=member.birth_date.isoformat() if member.birth_date else "",
        referrer_member_id=member.referrer_member_id or "",
    )


def progress_message(progress: Progress, requalification: Requalification | None) -> pb.TierProgress:
    message = pb.TierProgress(
        qualifying_value=decimal_text(progress.qualifying_value),
        next_tier=progress.next_tier or "",
        needed_for_next=decimal_text(progress.needed_for_next),
    )
    if requalification is not None:
        message.requalify_at.CopyFrom(timestamp(requalification.at))
        message.requalification_value = decimal_text(requalification.value)
        message.needed_to_keep = decimal_text(requalification.needed_to_keep)
    return message


def schedule_message(member_id: str, points_schedule: schedule.Schedule) -> pb.GetPointsScheduleResponse:
    message = pb.GetPointsScheduleResponse(
        member_id=member_id,
        expiring=[
            pb.ExpiringPoints(expires_at=timestamp(due.at), points=due.points) for due in points_schedule.expiring
        ],
        expiring_truncated=points_schedule.more_expiring,
        pending=[
            pb.PendingPoints(available_at=timestamp(due.at), points=due.points) for due in points_schedule.pending
        ],
        pending_truncated=points_schedule.more_pending,
    )
    if points_schedule.inactivity is not None:
        message.inactivity_expires_at.CopyFrom(timestamp(points_schedule.inactivity.at))
        message.inactivity_points = points_schedule.inactivity.points
    return message


def entry_message(entry: store.EntryRow) -> pb.LedgerEntry:
    return pb.LedgerEntry(
        entry_id=str(entry.entry_id),
        member_id=entry.member_id,
        kind=_KIND[entry.kind],
        points=entry.points,
        idempotency_key=entry.idempotency_key,
        description=entry.description,
        created_at=timestamp(entry.created_at),
        breakdown=[pb.EarnComponent(**component) for component in json.loads(entry.breakdown)],
    )


def hold_message(result: HoldResult) -> pb.Hold:
    hold = result.hold
    return pb.Hold(
        hold_id=str(hold.hold_id),
        member_id=hold.member_id,
        points=hold.points,
        idempotency_key=hold.idempotency_key,
        status=_HOLD_STATUS[result.status],
        created_at=timestamp(hold.created_at),
        expires_at=timestamp(hold.expires_at),
        capture_entry_id=str(hold.capture_entry_id or ""),
        description=hold.description,
    )
