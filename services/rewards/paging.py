"""Page sizes for list calls, and the service's ids (the page tokens are services.common.page_tokens)."""

from __future__ import annotations

import uuid

from services.common.errors import InvalidArgument, Violations


def page_size(requested: int, *, default: int, maximum: int) -> int:
    if requested < 0 or requested > maximum:
        raise InvalidArgument.single("page_size", f"must be 0-{maximum} (0 for {default})")
    return requested or default


def _id_problem(value: str) -> str | None:
    if not value:
        return "is required, an id this service returned"
    try:
        uuid.UUID(value)
    except ValueError:
        return f"{value!r} is not an id this service returns (a UUID)"
    return None


def parse_id(field: str, value: str) -> uuid.UUID:
    problem = _id_problem(value)
    if problem is not None:
        raise InvalidArgument.single(field, problem)
    return uuid.UUID(value)


def check_id(violations: Violations, field: str, value: str) -> None:
    """Adds why `value` is not an id of this service, for a request with other fields to check too."""
    problem = _id_problem(value)
    if problem is not None:
        violations.add(field, problem)
