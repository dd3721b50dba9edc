"""gRPC servicer for loyalty.points.v1.CreditLookupService: what the points service credited, read-only."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
from loyalty.points.v1 import credits_pb2 as pb
from loyalty.points.v1 import credits_pb2_grpc

from services.common.errors import InvalidArgument, Violations, required_as
from services.points import accrual_store, purchases_store
from services.points.domain import ID_SHAPE, PURCHASE_ID_PATTERN
from services.points.partner_application import check_partner_id

_NOT_RECORDED = pb.FindCreditResponse(credited=False)


class CreditLookupServicer(credits_pb2_grpc.CreditLookupServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def FindCredit(
        self, request: pb.FindCreditRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.FindCreditResponse:
        if request.partner_id or request.partner_transaction_id:
            return await self._partner_credit(request)
        if not PURCHASE_ID_PATTERN.fullmatch(request.purchase_id):
            shape = ID_SHAPE if request.purchase_id else f"{ID_SHAPE} (or partner_id and partner_transaction_id)"
            raise InvalidArgument.single("purchase_id", required_as(request.purchase_id, shape))
        async with self._pool.acquire() as connection:
            purchase = await purchases_store.find_purchase(connection, request.purchase_id)
        if purchase is None:
            return _NOT_RECORDED
        return _found(purchase.member_id, purchase.points_earned, purchase.entry_id)

    async def _partner_credit(self, request: pb.FindCreditRequest) -> pb.FindCreditResponse:
        violations = Violations()
        if request.purchase_id:
            violations.add("purchase_id", "must be empty when a partner transaction is named")
        check_partner_id(violations, request.partner_id)
        if not PURCHASE_ID_PATTERN.fullmatch(request.partner_transaction_id):
            violations.add(
                "partner_transaction_id",
                required_as(request.partner_transaction_id, ID_SHAPE),
            )
        violations.raise_if_any()
        async with self._pool.acquire() as connection:
            accrual = await accrual_store.find_accepted(connection, request.partner_id, request.partner_transaction_id)
        if accrual is None:
            return _NOT_RECORDED
        return _found(*accrual)


def _found(member_id: str, points: int, entry_id: object | None) -> pb.FindCreditResponse:
    credited = entry_id is not None and points > 0
    return pb.FindCreditResponse(
        credited=credited, member_id=member_id, points=points, ledger_entry_id=str(entry_id) if credited else ""
    )
