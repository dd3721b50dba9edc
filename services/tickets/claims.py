"""Asking the points service whether a missing-points claim was already credited (CreditLookupService)."""

from __future__ import annotations

import logging

import grpc
from loyalty.points.v1 import credits_pb2, credits_pb2_grpc

from services.common.errors import FailedPrecondition
from services.common.settings import GrpcTlsSettings
from services.common.tls import grpc_channel
from services.tickets.domain import Claim
from services.tickets.store import ClaimCheck

log = logging.getLogger(__name__)

ALREADY_CREDITED, NOT_CREDITED, UNVERIFIED = "already_credited", "not_credited", "unverified"


class CreditLookup:
    """A client of the points service; a claim it cannot verify is recorded as unverified, not refused."""

    def __init__(self, target: str, timeout_s: float = 3.0, tls: GrpcTlsSettings | None = None) -> None:
        self._target = target
        self._tls = tls or GrpcTlsSettings()
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    async def check(self, claim: Claim, member_id: str) -> ClaimCheck:
        """What points knows of the purchase or partner transaction; FAILED_PRECONDITION if another member's."""
        if self._channel is None:
            self._channel = grpc_channel(self._target, self._tls)
        stub = credits_pb2_grpc.CreditLookupServiceStub(self._channel)
        try:
            found = await stub.FindCredit(
                credits_pb2.FindCreditRequest(
                    purchase_id=claim.purchase_id,
                    partner_id=claim.partner_id,
                    partner_transaction_id=claim.partner_transaction_id,
                ),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("claim not verified", extra={"target": self._target, "code": error.code().name})
            return ClaimCheck(UNVERIFIED, 0, "")
        if found.member_id and found.member_id != member_id:
            field = "claim.partner_transaction_id" if claim.partner_id else "claim.purchase_id"
            raise FailedPrecondition(f"{field}: the transaction was recorded for another member")
        if found.credited:
            return ClaimCheck(ALREADY_CREDITED, found.points, found.ledger_entry_id)
        return ClaimCheck(NOT_CREDITED, 0, "")

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
