"""gRPC servicer for loyalty.points.v1.CreditLookupService: what the points service credited, read-only.

Claims about partner transactions will look up partner accruals here once the
points service records them; today a purchase id is the only key.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
from loyalty.points.v1 import credits_pb2 as pb
from loyalty.points.v1 import credits_pb2_grpc

from services.common.errors import InvalidArgument
from services.points import store
from services.points.domain import PURCHASE_ID_PATTERN


class CreditLookupServicer(credits_pb2_grpc.CreditLookupServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def FindCredit(
        self, request: pb.FindCreditRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.FindCreditResponse:
        if not PURCHASE_ID_PATTERN.fullmatch(request.purchase_id):
            raise InvalidArgument.single("purchase_id", "is required: 1-128 printable characters without spaces")
        async with self._pool.acquire() as connection:
            purchase = await store.find_purchase(connection, request.purchase_id)
        if purchase is None:
            return pb.FindCreditResponse(credited=False)
        credited = purchase.entry_id is not None and purchase.points_earned > 0
        return pb.FindCreditResponse(
            credited=credited,
            member_id=purchase.member_id,
            points=purchase.points_earned,
            ledger_entry_id=str(purchase.entry_id) if credited else "",
        )
