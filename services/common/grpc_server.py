"""The gRPC asyncio server every service runs: health, reflection and error mapping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from services.common.auth import Authorizer, refuse_partner_keys
from services.common.db import DATABASE_UNAVAILABLE, TRANSACTION_CONFLICT, VALUE_REFUSED, refused_value
from services.common.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from services.common.grpc_handlers import Behavior, Deserializer, Undecodable, WrappingInterceptor, tolerant
from services.common.rpc_outcome import RpcOutcomeInterceptor
from services.common.server_health import ServerHealth
from services.common.settings import GrpcTlsSettings
from services.common.text_fields import clipped
from services.common.tls import server_credentials
from services.common.unknown_methods import UnknownMethodInterceptor
from services.common.unstorable import refuse_unstorable

log = logging.getLogger(__name__)

# A stopping server refuses new calls until none has come for this long, and only then stops grpc's server: see
# GrpcServer.stop. Clients told UNAVAILABLE wait before they call again (0.2 s at first, as docs tell them).
DRAIN_QUIET_S = 0.1
# Answered while stopping: load balancers read NOT_SERVING from the health service.
_ANSWERED_WHILE_STOPPING = ("/grpc.health.", "/grpc.reflection.")

_STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidArgument: code_pb2.INVALID_ARGUMENT,
    NotFound: code_pb2.NOT_FOUND,
    AlreadyExists: code_pb2.ALREADY_EXISTS,
    FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    Unauthenticated: code_pb2.UNAUTHENTICATED,
    PermissionDenied: code_pb2.PERMISSION_DENIED,
    ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
    Unavailable: code_pb2.UNAVAILABLE,
    Aborted: code_pb2.ABORTED,
}


@dataclass(frozen=True)
class Registration:
    """A servicer and the function generated code provides to add it to a server."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    service_name: str

    @classmethod
    def of(cls, grpc_module: ModuleType, messages: ModuleType, service: str, servicer: object) -> Registration:
        """The registration of `service` from its generated modules (`x_pb2_grpc`, `x_pb2`)."""
        return cls(
            getattr(grpc_module, f"add_{service}Servicer_to_server"),
            servicer,
            messages.DESCRIPTOR.services_by_name[service].full_name,
        )


# A refusal travels in trailing metadata, which clients accept up to 16 KiB in all: a message quoting a huge value
# verbatim would reach the caller as RESOURCE_EXHAUSTED instead of the refusal (the status details go base64).
_MAX_MESSAGE = 2000
_MAX_DESCRIPTION = 300
_MAX_VIOLATIONS = 20


def status_for(error: DomainError) -> grpc.Status:
    code = next((c for kind, c in _STATUS_BY_ERROR.items() if isinstance(error, kind)), code_pb2.FAILED_PRECONDITION)
    status = status_pb2.Status(code=code, message=clipped(error.message, _MAX_MESSAGE))
    if isinstance(error, InvalidArgument):
        shown = error.violations[:_MAX_VIOLATIONS]
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=clipped(v.field, _MAX_DESCRIPTION), description=clipped(v.text, _MAX_DESCRIPTION)
                )
                for v in shown
            ]
        )
        if len(error.violations) > len(shown):
            more = error_details_pb2.BadRequest.FieldViolation(
                field="request", description=f"and {len(error.violations) - len(shown)} more violations"
            )
            bad_request.field_violations.append(more)
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def refusal_of(error: Exception) -> DomainError | None:
    """The DomainError a servicer's exception stands for, never INTERNAL or UNKNOWN; or None for a defect.

    Itself; FAILED_PRECONDITION for a value the database refused (a member's
    total out of range), which a retry would not change; ABORTED for a
    transaction a concurrent one won and UNAVAILABLE for a database that cannot
    take the work now (away, read-only, out of connections, the statement
    cancelled: DATABASE_UNAVAILABLE): neither is the caller's fault, and it is
    told to retry with the same idempotency key. The database's own words stay
    in the log: they name tables, constraints, even hosts.
    """
    if isinstance(error, DomainError):
        return error
    if isinstance(error, TRANSACTION_CONFLICT):
        log.info("transaction lost to a concurrent one", extra={"error": repr(error)})
        return Aborted("a concurrent change conflicted and nothing was written; retry with the same idempotency key")
    if isinstance(error, VALUE_REFUSED):
        log.warning("the database refused a value of a call", extra={"error": repr(error)})
        return FailedPrecondition(f"{refused_value(error)} and nothing was written")
    if isinstance(error, DATABASE_UNAVAILABLE):
        log.warning("database unavailable during a call", extra={"error": repr(error)})
        return Unavailable(
            "the database is unavailable or too slow and nothing was written;"
            " retry, with the same idempotency key where the call takes one"
        )
    return None


def _internal(error: Exception, method: str) -> grpc.Status:
    """INTERNAL for a defect, logged with its traceback; the caller gets the trace id to quote, never the text."""
    log.error("call failed unexpectedly", extra={"method": method}, exc_info=error)
    context = trace.get_current_span().get_span_context()
    quoted = f" (trace {format(context.trace_id, '032x')})" if context.is_valid else ""
    converted: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message=f"the service failed to handle the call{quoted}")
    )
    return converted


class DomainErrorInterceptor(WrappingInterceptor):
    """Refuses a call while the server stops (see `Admission`), checks the caller (when an authorizer is given),
    then turns a DomainError raised by a servicer (or a database outage, see `refusal_of`) into its gRPC status
    with google.rpc details."""

    def __init__(self, authorizer: Authorizer | None = None, admission: Admission | None = None) -> None:
        super().__init__()
        self._authorizer = authorizer
        self._admission = admission

    def wrap_unary(self, behavior: Behavior, method: str) -> Behavior:
        return _guard_unary(behavior, self._check(method), method)

    def wrap_stream(self, behavior: Behavior, method: str) -> Behavior:
        return _guard_stream(behavior, self._check(method), method)

    def wrap_deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        return tolerant(deserializer)

    def _check(self, method: str) -> Check:
        authorizer, admission = self._authorizer, self._admission

        def check(context: grpc.aio.ServicerContext[Any, Any]) -> None:
            if admission is not None:
                admission.check(method)
            if authorizer is not None:
                authorizer.check(method, context.invocation_metadata())
            else:
                refuse_partner_keys(method, context.invocation_metadata())

        return check


Check = Callable[[grpc.aio.ServicerContext[Any, Any]], None]


def _guard_unary(behavior: Any, check: Check, method: str) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            check(context)
            return await behavior(_decoded(request), context)
        except Exception as error:
            await _refuse(context, error, method)

    return guarded


def _guard_stream(behavior: Any, check: Check, method: str) -> Callable[..., AsyncIterator[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            check(context)
            async for response in behavior(_decoded(request), context):
                yield response
        except Exception as error:
            await _refuse(context, error, method)

    return guarded


def _decoded(request: Any) -> Any:
    """The request, or for a request stream each message, refused with INVALID_ARGUMENT if it did not parse or
    holds a value no handler could store (see `refuse_unstorable`)."""
    if hasattr(request, "__aiter__"):
        return _decoded_stream(request)
    return _checked(request)


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


def _checked(request: Any) -> Any:
    """One message of a call, checked alike whichever way it came (unary or in a stream)."""
    if isinstance(request, Undecodable):
        raise _undecodable(request)
    refuse_unstorable(request)
    return request


def _undecodable(request: Undecodable) -> InvalidArgument:
    return InvalidArgument.single("request", f"is not a valid {request.message_type} message: {request.reason}")


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], error: Exception, method: str) -> None:
    """End the call with the status the error stands for, logged so that a refused call can be found.

    A defect is INTERNAL: left to grpc, it answered UNKNOWN with the exception's class and text.
    """
    if isinstance(error, grpc.aio.AbortError):
        raise error  # the call was already ended with its status
    refusal = refusal_of(error)
    if refusal is None:
        status = _internal(error, method)
    else:
        status = status_for(refusal)
        # The caller's answer quotes what they sent; the log leaves out a refused value of a personal field.
        details = clipped(refusal.logged, _MAX_MESSAGE)
        log.info("call refused", extra={"method": method, "code": status.code.name, "details": details})
    await context.abort_with_status(status)


class Admission:
    """Whether the server takes new calls: once closed, each new call is refused UNAVAILABLE before anything runs."""

    def __init__(self) -> None:
        self._closed_at: float | None = None
        self._last_refused = 0.0

    def close(self) -> None:
        self._closed_at = self._last_refused = time.monotonic()

    def check(self, method: str) -> None:
        if self._closed_at is None or method.startswith(_ANSWERED_WHILE_STOPPING):
            return
        self._last_refused = time.monotonic()
        raise Unavailable(
            "the service is stopping and did not run the call; retry, with the same idempotency key where the call"
            " takes one"
        )

    async def quiet(self, quiet_s: float, limit_s: float) -> None:
        """Return once no call was refused for `quiet_s` seconds, or `limit_s` after closing."""
        if self._closed_at is None:
            return
        give_up = self._closed_at + limit_s
        while (now := time.monotonic()) < give_up:
            idle = now - self._last_refused
            if idle >= quiet_s:
                return
            await asyncio.sleep(min(quiet_s - idle, give_up - now))


class PortUnavailable(OSError):
    """The gRPC server cannot listen on its address: another process has the port, or the host is not this one."""


# grpc sets SO_REUSEPORT by default: a second process would bind the port of a running one, both would say they
# started, and the kernel would split the calls between them (each perhaps on another database).
_SERVER_OPTIONS = (("grpc.so_reuseport", 0),)


class GrpcServer:
    def __init__(
        self,
        address: str,
        registrations: Sequence[Registration],
        *,
        tls: GrpcTlsSettings | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._admission = Admission()
        # Calls to a method the server lacks first, as no other interceptor wraps them; then tracing, so that its
        # span covers the whole call; the call's outcome (metrics, the span's status code) outside the error
        # mapping, so that it sees the code the mapping answered.
        self._server = grpc.aio.server(
            interceptors=[
                UnknownMethodInterceptor(),
                aio_server_interceptor(),
                RpcOutcomeInterceptor(),
                DomainErrorInterceptor(authorizer, self._admission),
            ],
            options=_SERVER_OPTIONS,
        )
        names = [r.service_name for r in registrations]
        self._health = ServerHealth(names)
        for registration in registrations:
            registration.add_to_server(registration.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self._server,
        )
        self.port = self._listen(address, tls)

    def _listen(self, address: str, tls: GrpcTlsSettings | None) -> int:
        """Bind `address` (its port taken when this returns); PortUnavailable when it cannot be bound."""
        credentials = server_credentials(tls) if tls is not None and tls.serves_tls else None
        refused = PortUnavailable(
            f"cannot listen on {address} (port {_port_of(address)}): another process listens on it,"
            " or the host is not an address of this machine"
        )
        try:
            if credentials is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, credentials)
        except RuntimeError as error:  # grpc's "Failed to bind to address", whatever the cause
            raise refused from error
        if port == 0:  # how grpc told a failed bind before it raised
            raise refused
        return port

    async def start(self) -> None:
        await self._server.start()
        await self._health.start()

    async def set_ready(self, ready: bool) -> None:
        """Readiness ("" and each API): NOT_SERVING while the service cannot do its work (its database away).

        Ignored once stopping: a stopping server stays NOT_SERVING.
        """
        await self._health.set_ready(ready)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking calls, then let the calls in flight finish, within `grace` seconds in all.

        Health says NOT_SERVING, and each new call is refused UNAVAILABLE until none has come for DRAIN_QUIET_S
        (at most half the grace); calls already running go on meanwhile. Only then is grpc's server stopped:
        it cancels every call it has received but not yet handed to the service, and every call that comes
        before the client reads its GOAWAY. Under load, stopping it at once left such calls CANCELLED, which
        tells a client that it cancelled them itself, not to retry them. Health Watch calls, which last until
        their client ends them, are ended once the quiet time has told their watchers NOT_SERVING.
        """
        deadline = time.monotonic() + grace
        await self._health.stop()
        self._admission.close()
        await self._admission.quiet(DRAIN_QUIET_S, limit_s=grace / 2)
        self._health.end_watches()
        await self._server.stop(max(deadline - time.monotonic(), 0.0))


def _port_of(address: str) -> str:
    return address.rsplit(":", 1)[-1]
