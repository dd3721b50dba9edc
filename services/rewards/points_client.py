"""The points service as the rewards service uses it: holds, captures, releases and give-backs over gRPC.

Every call carries a deadline. Answers become domain errors: NOT_FOUND stays
NOT_FOUND; the service down, slow or failing becomes Unavailable, which the
caller may retry; any other answer is a refusal (not enough points, a hold
already settled) and becomes FailedPrecondition with the points service's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from loyalty.points.v1 import points_pb2 as pb
from loyalty.points.v1 import points_pb2_grpc

from services.common.errors import DomainError, FailedPrecondition, NotFound, Unavailable
from services.common.settings import GrpcTlsSettings
from services.common.tls import grpc_channel

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0
# Texts the points service accepts (adjustment reasons, hold descriptions).
MAX_POINTS_TEXT = 256
_TRANSIENT = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
    # A points replica older than this service, mid-rollout: a method it lacks is one a newer replica answers.
    grpc.StatusCode.UNIMPLEMENTED,
)
_REFUSED_THIS_SERVICE = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
_HOLD_STATUS = {
    pb.HOLD_STATUS_HELD: "held",
    pb.HOLD_STATUS_CAPTURED: "captured",
    pb.HOLD_STATUS_RELEASED: "released",
    pb.HOLD_STATUS_EXPIRED: "expired",
}


@dataclass(frozen=True)
class Hold:
    hold_id: str
    status: str


def _translate(error: grpc.aio.AioRpcError) -> DomainError:
    details = error.details() or error.code().name
    if error.code() == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if error.code() in _REFUSED_THIS_SERVICE:
        # Not the member's doing (it would read as 'not enough points'): this service's token is missing or wrong.
        # Unavailable until an operator mends it; the redemption waits for the recovery job, nothing is undone.
        log.error("the points service refused this service's credentials", extra={"code": error.code().name})
    if error.code() in (*_REFUSED_THIS_SERVICE, *_TRANSIENT):
        return Unavailable(f"points service: {error.code().name}: {details}")
    # A refusal: asking again would be refused again.
    return FailedPrecondition(details)


async def _answer(call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise _translate(error) from error


class PointsClient:
    def __init__(self, target: str, tls: GrpcTlsSettings | None = None) -> None:
        self._target = target
        self._tls = tls or GrpcTlsSettings()
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> points_pb2_grpc.PointsServiceStub:
        # Created on first use, inside the service's event loop.
        if self._channel is None:
            self._channel = grpc_channel(self._target, self._tls)
        return points_pb2_grpc.PointsServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def hold(self, member_id: str, points: int, key: str, ttl: timedelta, description: str) -> Hold:
        """Place the hold, or return the one `key` already placed (whatever its status now)."""
        duration = Duration()
        duration.FromTimedelta(ttl)
        request = pb.HoldPointsRequest(
            member_id=member_id, points=points, idempotency_key=key, ttl=duration, description=description
        )
        response = await _answer(self._stub().HoldPoints(request, timeout=CALL_TIMEOUT_S))
        return Hold(response.hold.hold_id, _HOLD_STATUS.get(response.hold.status, "unknown"))

    async def capture(self, hold_id: str) -> None:
        """Spend the held points; capturing a captured hold again is fine."""
        await _answer(self._stub().CaptureHold(pb.CaptureHoldRequest(hold_id=hold_id), timeout=CALL_TIMEOUT_S))

    async def release(self, hold_id: str) -> None:
        """Free the held points; FailedPrecondition if the hold was captured."""
        await _answer(self._stub().ReleaseHold(pb.ReleaseHoldRequest(hold_id=hold_id), timeout=CALL_TIMEOUT_S))

    async def give_back(self, hold_id: str, key: str, reason: str) -> None:
        """Give a captured hold's points back as they were, expiry included (ReturnCapturedHold); repeating `key`
        gives them back once. Its keys are AdjustPoints' too: a give-back AdjustPoints made under `key` (this
        service's cancellations before) counts as done."""
        request = pb.ReturnCapturedHoldRequest(
            hold_id=hold_id, idempotency_key=key, reason=reason[:MAX_POINTS_TEXT], actor="rewards-service"
        )
        await _answer(self._stub().ReturnCapturedHold(request, timeout=CALL_TIMEOUT_S))

    async def tier(self, member_id: str) -> str:
        """The member's tier as the points service has it; NotFound for a member it does not know."""
        request = pb.GetMemberRequest(member_id=member_id)
        return str((await _answer(self._stub().GetMember(request, timeout=CALL_TIMEOUT_S))).member.tier)

    async def available(self, member_id: str) -> int:
        request = pb.GetBalanceRequest(member_id=member_id)
        response = await _answer(self._stub().GetBalance(request, timeout=CALL_TIMEOUT_S))
        return int(response.available)
