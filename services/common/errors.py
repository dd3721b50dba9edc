"""Domain errors, raised by domain and store code and mapped to gRPC statuses at the edge.

They name what was wrong in terms a caller can act on; a consumer that meets
one while applying an event dead-letters the event with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error a caller caused; never an INTERNAL error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations

    @classmethod
    def single(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class Unauthenticated(DomainError):
    """No credentials, or credentials that authenticate nobody."""


class PermissionDenied(DomainError):
    """Authenticated, but not allowed to do this."""


class ResourceExhausted(DomainError):
    """Nothing left to give, such as a reward out of stock."""


class Aborted(DomainError):
    """A concurrent change won (a deadlock, say) and nothing was written; retry with the same idempotency key."""


class Unavailable(DomainError):
    """A service this one depends on did not answer; the caller may retry with the same idempotency key."""


class Violations:
    """Collects every field violation of a request so the caller sees them all at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def about(self, field: str) -> bool:
        """Whether a violation names `field` already."""
        return any(item.field == field for item in self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items)


def required_as(value: str, shape: str) -> str:
    """Why a value of the wrong shape is refused: "is required: <shape>" when empty, else "must be <shape>"."""
    return f"is required: {shape}" if not value else f"must be {shape}"
