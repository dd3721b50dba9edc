"""Domain errors become gRPC statuses with google.rpc details. Pure, no I/O."""

from __future__ import annotations

import logging

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
from services.common.grpc_server import _refuse, refusal_of, status_for
from services.points.domain import Enrollment, validate_enrollment

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
        # A failover whose DNS still names the old primary, now a standby.
        asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.IdleInTransactionSessionTimeoutError("terminating connection due to idle-in-transaction"),
    ],
)
def test_a_database_that_cannot_take_the_call_now_is_unavailable_not_unknown(error: Exception) -> None:
    refusal = refusal_of(error)
    assert isinstance(refusal, Unavailable)
    assert status_for(refusal).code == grpc.StatusCode.UNAVAILABLE
    assert "nothing was written; retry, with the same idempotency key" in refusal.message
    assert str(error) not in refusal.message


@pytest.mark.parametrize(
    ("error", "told"),
    [
        (
            asyncpg.exceptions.NumericValueOutOfRangeError('value overflows numeric format in column "balance"'),
            "a number is beyond what can be stored",
        ),
        (
            asyncpg.exceptions.CheckViolationError('new row for relation "lots" violates check constraint "lots_c"'),
            "a value is outside what may be stored",
        ),
        (asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"), "a value cannot"),
    ],
)
def test_a_value_the_database_refused_is_failed_precondition_without_the_database_words(
    error: Exception, told: str
) -> None:
    refusal = refusal_of(error)
    assert isinstance(refusal, FailedPrecondition)
    assert refusal.message.startswith(told)
    assert refusal.message.endswith("and nothing was written")
    assert str(error) not in refusal.message


def test_a_defect_is_left_to_the_interceptor() -> None:
    assert refusal_of(ValueError("a bug")) is None
    not_found = NotFound("member_id: no member 'x'")
    assert refusal_of(not_found) is not_found


class Aborting:
    """The part of a grpc ServicerContext `_refuse` uses: ending the call with a status."""

    status: grpc.Status | None = None

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise grpc.aio.AbortError()


async def test_a_defect_is_internal_and_its_text_stays_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Left to grpc, a defect was UNKNOWN with the exception's class and text: here, a connection string."""
    context = Aborting()
    try:
        raise KeyError("postgresql://loyalty:s3cret@db.internal:5432/points")
    except KeyError as error:
        with pytest.raises(grpc.aio.AbortError):
            await _refuse(context, error, "/loyalty.points.v1.PointsService/EnrollMember")  # type: ignore[arg-type]
    assert context.status is not None
    assert context.status.code == grpc.StatusCode.INTERNAL
    assert "s3cret" not in context.status.details and "KeyError" not in context.status.details
    [logged] = [r for r in caplog.records if r.getMessage() == "call failed unexpectedly"]
    assert logged.exc_info is not None and "s3cret" in str(logged.exc_info[1])


async def test_a_call_the_servicer_already_ended_keeps_its_status() -> None:
    context = Aborting()
    with pytest.raises(grpc.aio.AbortError):
        await _refuse(context, grpc.aio.AbortError(), "/loyalty.points.v1.PointsService/EnrollMember")  # type: ignore[arg-type]
    assert context.status is None


def test_the_victim_of_a_deadlock_is_aborted_not_unknown() -> None:
    refusal = refusal_of(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
    assert isinstance(refusal, Aborted)
    assert status_for(refusal).code == grpc.StatusCode.ABORTED


async def test_a_refused_personal_value_reaches_the_caller_but_not_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """The caller reads the birth date they sent; the `call refused` line names the field and what is wrong."""
    context = Aborting()
    try:
        validate_enrollment(Enrollment("m-1", "", "x" * 300, "", birth_date="1990-02-31"))
    except InvalidArgument as error:
        with caplog.at_level(logging.INFO, logger="services.common.grpc_server"), pytest.raises(grpc.aio.AbortError):
            await _refuse(context, error, "/loyalty.points.v1.PointsService/EnrollMember")  # type: ignore[arg-type]
    assert context.status is not None and "'1990-02-31' is not a date" in context.status.details
    [logged] = [r for r in caplog.records if r.getMessage() == "call refused"]
    details = str(logged.details)  # type: ignore[attr-defined]
    assert "1990-02-31" not in details
    assert "birth_date: is not a date of the form YYYY-MM-DD" in details
    assert "given_name: must be at most 256 characters" in details


def test_a_violation_of_a_field_not_named_like_personal_data_is_logged_whole() -> None:
    error = InvalidArgument([FieldViolation("records[3].points", "must be positive", value="-5")])
    assert error.message == error.logged == "records[3].points: '-5' must be positive"
    personal = InvalidArgument([FieldViolation("member.email", "must be an email address", value="jane")])
    assert personal.message == "member.email: 'jane' must be an email address"
    assert personal.logged == "member.email: must be an email address"
