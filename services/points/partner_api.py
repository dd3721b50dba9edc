"""gRPC servicers for partners: PartnerService (administration) and PartnerAccrualService (intake by partner key)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from loyalty.points.v1 import partners_pb2 as pb
from loyalty.points.v1 import partners_pb2_grpc

from services.common.auth import bearer
from services.common.decimals import decimal_text
from services.common.errors import InvalidArgument
from services.common.events import timestamp
from services.common.proto_time import optional_time
from services.points.accrual_application import AccrualApplication
from services.points.accrual_cancellation import AccrualCancellations
from services.points.partner_accrual import Decision, RawRecord, Status
from services.points.partner_application import PartnerApplication, PartnerView, parse_rate
from services.points.program import Rounding

Context = grpc.aio.ServicerContext[Any, Any]
STREAM_BATCHES_IN_FLIGHT = 2

_KINDS = {
    pb.PARTNER_KIND_AIRLINE: "airline",
    pb.PARTNER_KIND_HOTEL: "hotel",
    pb.PARTNER_KIND_CAR: "car",
    pb.PARTNER_KIND_RETAIL: "retail",
    pb.PARTNER_KIND_OTHER: "other",
}
_KIND_MESSAGES = {name: value for value, name in _KINDS.items()}
_ROUNDING = {
    pb.RATE_ROUNDING_UNSPECIFIED: Rounding.DOWN,
    pb.RATE_ROUNDING_DOWN: Rounding.DOWN,
    pb.RATE_ROUNDING_HALF_UP: Rounding.HALF_UP,
    pb.RATE_ROUNDING_UP: Rounding.UP,
}
_ROUNDING_MESSAGES = {
    Rounding.DOWN: pb.RATE_ROUNDING_DOWN,
    Rounding.HALF_UP: pb.RATE_ROUNDING_HALF_UP,
    Rounding.UP: pb.RATE_ROUNDING_UP,
}
_ACTIVITIES = {
    pb.ACTIVITY_TYPE_FLIGHT: "flight",
    pb.ACTIVITY_TYPE_STAY: "stay",
    pb.ACTIVITY_TYPE_RENTAL: "rental",
    pb.ACTIVITY_TYPE_PURCHASE: "purchase",
}
_STATUSES = {
    Status.ACCEPTED: pb.ACCRUAL_STATUS_ACCEPTED,
    Status.DUPLICATE: pb.ACCRUAL_STATUS_DUPLICATE,
    Status.UNKNOWN_MEMBER: pb.ACCRUAL_STATUS_UNKNOWN_MEMBER,
    Status.NAME_MISMATCH: pb.ACCRUAL_STATUS_NAME_MISMATCH,
    Status.INVALID: pb.ACCRUAL_STATUS_INVALID,
    Status.RATE_MISSING: pb.ACCRUAL_STATUS_RATE_MISSING,
}


class PartnerServicer(partners_pb2_grpc.PartnerServiceServicer):
    def __init__(self, partners: PartnerApplication) -> None:
        self._partners = partners

    async def RegisterPartner(self, request: pb.RegisterPartnerRequest, context: Context) -> pb.RegisterPartnerResponse:
        view = await self._partners.register(request.partner_id, request.name, _KINDS.get(request.kind, ""))
        return pb.RegisterPartnerResponse(partner=partner_message(view))

    async def GetPartner(self, request: pb.GetPartnerRequest, context: Context) -> pb.GetPartnerResponse:
        return pb.GetPartnerResponse(partner=partner_message(await self._partners.get(request.partner_id)))

    async def SetConversionRate(
        self, request: pb.SetConversionRateRequest, context: Context
    ) -> pb.SetConversionRateResponse:
        given = request.rate
        effective_from = optional_time(given, "effective_from", "rate.effective_from")
        if given.rounding not in _ROUNDING:
            raise InvalidArgument.single("rate.rounding", f"{given.rounding} is not a RateRounding value")
        rate = parse_rate(given.unit, given.points_per_unit, effective_from, _ROUNDING[given.rounding])
        return pb.SetConversionRateResponse(
            partner=partner_message(await self._partners.set_rate(request.partner_id, rate))
        )

    async def IssuePartnerCredential(
        self, request: pb.IssuePartnerCredentialRequest, context: Context
    ) -> pb.IssuePartnerCredentialResponse:
        issued = await self._partners.issue_key(request.partner_id)
        return pb.IssuePartnerCredentialResponse(credential_id=str(issued.credential_id), api_key=issued.api_key)

    async def RevokePartnerCredential(
        self, request: pb.RevokePartnerCredentialRequest, context: Context
    ) -> pb.RevokePartnerCredentialResponse:
        revoked_at = await self._partners.revoke_key(request.partner_id, request.credential_id)
        return pb.RevokePartnerCredentialResponse(revoked_at=timestamp(revoked_at))

    async def GetReconciliation(
        self, request: pb.GetReconciliationRequest, context: Context
    ) -> pb.GetReconciliationResponse:
        totals, next_page_token = await self._partners.control_totals(
            request.partner_id, request.day, request.page_size, request.page_token
        )
        lines = [
            pb.ReconciliationLine(
                status=_STATUSES[Status(t.status)],
                records=t.records,
                amount=decimal_text(t.amount),
                points=t.points,
                unit=t.unit,
            )
            for t in totals
        ]
        return pb.GetReconciliationResponse(
            partner_id=request.partner_id, day=request.day, lines=lines, next_page_token=next_page_token
        )


class PartnerAccrualServicer(partners_pb2_grpc.PartnerAccrualServiceServicer):
    def __init__(self, accruals: AccrualApplication, cancellations: AccrualCancellations) -> None:
        self._accruals = accruals
        self._cancellations = cancellations

    async def CancelAccrual(self, request: pb.CancelAccrualRequest, context: Context) -> pb.CancelAccrualResponse:
        partner_id = await self._accruals.partner_of_key(bearer(context.invocation_metadata()))
        cancellation = await self._cancellations.cancel(partner_id, request.partner_transaction_id, request.reason)
        row = cancellation.row
        return pb.CancelAccrualResponse(
            partner_transaction_id=row.partner_transaction_id,
            member_id=row.member_id,
            points_reversed=row.points_reversed,
            points_taken=cancellation.points_taken,
            points_owed=row.points_owed,
            points_overdrawn=row.points_overdrawn,
            points_expired=row.points_expired,
            ledger_entry_id=str(row.entry_id) if row.entry_id else "",
            duplicate=cancellation.duplicate,
            cancelled_at=timestamp(row.cancelled_at),
        )

    async def SubmitAccruals(self, request: pb.AccrualBatch, context: Context) -> pb.AccrualBatchResult:
        partner_id = await self._accruals.partner_of_key(bearer(context.invocation_metadata()))
        return await self._answer(partner_id, None, request)  # just checked: no second lookup for one batch

    async def StreamAccruals(
        self, request_iterator: AsyncIterator[pb.AccrualBatch], context: Context
    ) -> AsyncIterator[pb.AccrualBatchResult]:
        api_key = bearer(context.invocation_metadata())
        partner_id = await self._accruals.partner_of_key(api_key)
        # Up to two batches in flight: the next is read and converted while the one before is written.
        # Each answer goes out as soon as it is ready, so a client that waits for an answer before
        # sending on is answered too. Batches are written one after the other, in the order sent: a
        # batch sent twice is accepted the first time and answered DUPLICATE the second.
        window = asyncio.Semaphore(STREAM_BATCHES_IN_FLIGHT)
        answers: asyncio.Queue[asyncio.Task[pb.AccrualBatchResult] | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read_batches(partner_id, api_key, request_iterator, window, answers))
        try:
            while (answer := await answers.get()) is not None:
                yield await answer
                window.release()
            await reader  # a request stream that broke off ends this one with its error
        finally:
            reader.cancel()
            while not answers.empty():
                if (pending := answers.get_nowait()) is not None:
                    pending.cancel()

    async def _read_batches(
        self,
        partner_id: str,
        api_key: str,
        request_iterator: AsyncIterator[pb.AccrualBatch],
        window: asyncio.Semaphore,
        answers: asyncio.Queue[asyncio.Task[pb.AccrualBatchResult] | None],
    ) -> None:
        """Start answering each batch as it arrives, in order; None after the last."""
        before: asyncio.Task[pb.AccrualBatchResult] | None = None
        try:
            async for batch in request_iterator:
                await window.acquire()
                before = asyncio.create_task(self._answer(partner_id, api_key, batch, before))
                answers.put_nowait(before)
        finally:
            answers.put_nowait(None)

    async def _answer(
        self,
        partner_id: str,
        api_key: str | None,
        batch: pb.AccrualBatch,
        after: asyncio.Task[pb.AccrualBatchResult] | None = None,
    ) -> pb.AccrualBatchResult:
        raws = [raw_record(r) for r in batch.records]
        if after is not None:
            # Its outcome is its own to answer (the stream ends at its error); only its end matters here.
            await asyncio.wait([after])
        decisions = await self._accruals.ingest(partner_id, raws, api_key=api_key)
        return pb.AccrualBatchResult(results=[result_message(d) for d in decisions])


def raw_record(message: pb.AccrualRecord, unknown_activity_type: str = "") -> RawRecord:
    """The record as sent; `unknown_activity_type` is the name a JSON record gave its activity_type when this version
    does not know it (the JSON mapping leaves the field unset)."""
    return RawRecord(
        partner_transaction_id=message.partner_transaction_id,
        member_id=message.member_id,
        member_last_name=message.member_last_name,
        # An enum value this version does not know is a wrong value ("must be"), not a missing one.
        activity_type=_ACTIVITIES.get(
            message.activity_type, str(message.activity_type) if message.activity_type else unknown_activity_type
        ),
        activity_date=message.activity_date,
        unit=message.unit,
        amount=message.amount,
        bonus_amount=message.bonus_amount,
        pending=message.pending,
    )


def result_message(decision: Decision) -> pb.AccrualResult:
    return pb.AccrualResult(
        partner_transaction_id=decision.partner_transaction_id,
        status=_STATUSES[decision.status],
        points=decision.points,
        field=decision.field,
        reason=decision.reason,
    )


def partner_message(view: PartnerView) -> pb.Partner:
    partner = view.partner
    return pb.Partner(
        partner_id=partner.partner_id,
        name=partner.name,
        kind=_KIND_MESSAGES[partner.kind],
        created_at=timestamp(partner.created_at),
        rates=[
            pb.ConversionRate(
                unit=rate.unit,
                points_per_unit=decimal_text(rate.points_per_unit.normalize()),
                effective_from=timestamp(rate.effective_from),
                rounding=_ROUNDING_MESSAGES[rate.rounding],
            )
            for rate in view.rates
        ],
    )
