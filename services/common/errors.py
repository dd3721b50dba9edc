"""Domain errors, raised by domain and store code and mapped to gRPC statuses at the edge.

They name what was wrong in terms a caller can act on; a consumer that meets
one while applying an event dead-letters the event with the same message.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from services.common.redaction import is_sensitive_field


class DomainError(Exception):
    """Base of every error a caller caused; never an INTERNAL error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def logged(self) -> str:
        """What logs (and dead-letter reasons) say of the error: the message, less what is the caller's alone."""
        return self.message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str
    # The refused value, quoted before the description in what the caller reads (it is their input); left out
    # of logs for a field named like personal data or a secret (redaction.SENSITIVE_FIELDS). A description
    # never quotes the value itself: pass it here.
    value: str | None = None

    @property
    def text(self) -> str:
        """What the caller reads: the value quoted, then the description."""
        return self.description if self.value is None else f"{self.value!r} {self.description}"

    @property
    def logged(self) -> str:
        return self.description if is_sensitive_field(self.field) else self.text


class InvalidArgument(DomainError):
    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.text}" for v in violations))
        self.violations = violations

    @property
    def logged(self) -> str:
        return "; ".join(f"{v.field}: {v.logged}" for v in self.violations)

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

    def add(self, field: str, description: str, value: str | None = None) -> None:
        self._items.append(FieldViolation(field, description, value))

    def about(self, field: str) -> bool:
        """Whether a violation names `field` already."""
        return any(item.field == field for item in self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items)


def required_as(value: str, shape: str) -> str:
    """Why a value of the wrong shape is refused: "is required: <shape>" when empty, else "must be <shape>"."""
    return f"is required: {shape}" if not value else f"must be {shape}"


def check_each_once(violations: Violations, field: str, names: Sequence[Hashable], noun: str) -> None:
    """Add "must name each <noun> once" for `field` when `names` repeats one: a repeat is a caller's slip that a
    list stored as given would keep, and one read as a set would hide."""
    if len(set(names)) != len(names):
        violations.add(field, f"must name each {noun} once")
