"""How the rewards service reads the points service's refusals."""

from __future__ import annotations

import grpc
import pytest

from services.common.errors import FailedPrecondition, NotFound, Unavailable
from services.rewards.points_client import _translate


def refusal(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),  # the member's: not enough points
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.UNAVAILABLE, Unavailable),
        # This service's own token missing or wrong: an operator's to mend, never 'not enough points'.
        (grpc.StatusCode.UNAUTHENTICATED, Unavailable),
        (grpc.StatusCode.PERMISSION_DENIED, Unavailable),
        # A points replica older than this service, mid-rollout (ReturnCapturedHold): a newer one will answer.
        (grpc.StatusCode.UNIMPLEMENTED, Unavailable),
    ],
)
def test_refusals_are_the_members_and_credential_faults_are_the_operators(
    code: grpc.StatusCode, kind: type[Exception]
) -> None:
    assert isinstance(_translate(refusal(code, "why")), kind)
