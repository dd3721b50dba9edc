"""Domain errors become gRPC statuses with google.rpc details. Pure, no I/O."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from services.common.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    Violations,
)
from services.common.grpc_server import refusal_of, status_for

DETAILS_KEY = "grpc-status-details-bin"


def rich_status(status: grpc.Status) -> status_pb2.Status:
    values = [value for key, value in status.trailing_metadata if key == DETAILS_KEY]
    assert len(values) == 1, status.trailing_metadata
    return status_pb2.Status.FromString(values[0])


def test_invalid_argument_carries_every_field_violation() -> None:
    error = InvalidArgument(
        [
            FieldViolation("amount.amount_minor", "must not be negative"),
            FieldViolation("line_items[2].sku", "is required, at most 256 characters"),
        ]
    )
    status = status_for(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.details == (
        "amount.amount_minor: must not be negative; line_items[2].sku: is required, at most 256 characters"
    )
    rich = rich_status(status)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert rich.message == status.details
    assert len(rich.details) == 1
    bad_request = error_details_pb2.BadRequest()
    assert rich.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("amount.amount_minor", "must not be negative"),
        ("line_items[2].sku", "is required, at most 256 characters"),
    ]


def test_violations_collector_raises_all_at_once() -> None:
    violations = Violations()
    violations.raise_if_any()  # nothing collected, nothing raised
    violations.add("a", "x")
    violations.add("b", "y")
    with pytest.raises(InvalidArgument) as caught:
        violations.raise_if_any()
    assert caught.value.violations == [FieldViolation("a", "x"), FieldViolation("b", "y")]
    assert caught.value.message == "a: x; b: y"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NotFound("member_id: member 'm' is not enrolled"), grpc.StatusCode.NOT_FOUND),
        (AlreadyExists("member 'm' is already enrolled"), grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("member is closed"), grpc.StatusCode.FAILED_PRECONDITION),
        (ResourceExhausted("reward_id: out of stock"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Unavailable("points service unavailable"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_other_domain_errors_map_to_their_code_without_field_details(error: DomainError, code: grpc.StatusCode) -> None:
    status = status_for(error)
    assert status.code == code
    assert status.details == error.message
    rich = rich_status(status)
    assert rich.code == code.value[0]
    assert list(rich.details) == []


def test_a_subclass_maps_like_its_base() -> None:
    class MemberNotFound(NotFound):
        pass

    assert status_for(MemberNotFound("gone")).code == grpc.StatusCode.NOT_FOUND


def test_an_unmapped_domain_error_is_never_internal() -> None:
    assert status_for(DomainError("refused")).code == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.exceptions._base.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    ],
)
def test_a_database_that_went_away_is_unavailable_not_unknown(error: Exception) -> None:
    refusal = refusal_of(error)
    assert isinstance(refusal, Unavailable)
    assert status_for(refusal).code == grpc.StatusCode.UNAVAILABLE
    assert "nothing was written; retry, with the same idempotency key" in refusal.message


def test_other_errors_are_left_to_grpc() -> None:
    assert refusal_of(ValueError("a bug")) is None
    not_found = NotFound("member_id: no member 'x'")
    assert refusal_of(not_found) is not_found


def test_the_victim_of_a_deadlock_is_aborted_not_unknown() -> None:
    refusal = refusal_of(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
    assert isinstance(refusal, Aborted)
    assert status_for(refusal).code == grpc.StatusCode.ABORTED
