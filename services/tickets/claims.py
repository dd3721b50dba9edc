"""Asking the points service whether a missing-points claim was already credited (CreditLookupService)."""

from __future__ import annotations

import logging

import grpc
from google.rpc import error_details_pb2, status_pb2
from loyalty.points.v1 import credits_pb2, credits_pb2_grpc

from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.common.settings import GrpcTlsSettings
from services.common.tls import grpc_channel
from services.tickets.domain import Claim
from services.tickets.store import ClaimCheck

log = logging.getLogger(__name__)

ALREADY_CREDITED, NOT_CREDITED, UNVERIFIED = "already_credited", "not_credited", "unverified"

# Points did not get to answer: the claim is kept unverified and asked about again before any goodwill.
_NOT_ANSWERED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
    }
)


class CreditLookup:
    """A client of the points service; a claim it cannot verify is recorded as unverified, not refused (unless
    points refuses the claim itself as invalid)."""

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
            return _unverified(error, self._target)
        if found.member_id and found.member_id != member_id:
            field = "claim.partner_transaction_id" if claim.partner_id else "claim.purchase_id"
            raise FailedPrecondition(f"{field}: the transaction was recorded for another member")
        if found.credited:
            return ClaimCheck(ALREADY_CREDITED, found.points, found.ledger_entry_id)
        return ClaimCheck(NOT_CREDITED, 0, "")

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def _unverified(error: grpc.aio.AioRpcError, target: str) -> ClaimCheck:
    """A claim points refused is refused to the caller, naming the claim's field; any other failure is logged."""
    if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
        raise InvalidArgument(_as_claim_violations(error))
    level = logging.WARNING if error.code() in _NOT_ANSWERED else logging.ERROR
    log.log(level, "claim not verified", extra={"target": target, "code": error.code().name})
    return ClaimCheck(UNVERIFIED, 0, "")


def _as_claim_violations(refused: grpc.aio.AioRpcError) -> list[FieldViolation]:
    """Points' field violations, named as the claim's fields (its request's fields are the claim's, by name)."""
    details = dict(refused.trailing_metadata() or ()).get("grpc-status-details-bin")
    bad_request = error_details_pb2.BadRequest()
    if isinstance(details, bytes) and any(d.Unpack(bad_request) for d in status_pb2.Status.FromString(details).details):
        return [FieldViolation(f"claim.{v.field}", v.description) for v in bad_request.field_violations]
    return [FieldViolation("claim", f"refused by the points service: {refused.details()}")]
