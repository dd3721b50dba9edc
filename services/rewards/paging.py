"""Page sizes and page tokens (the sort key of the last item) for list calls, and the service's ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from services.common import page_tokens
from services.common.errors import InvalidArgument, Violations


def page_size(requested: int, *, default: int, maximum: int) -> int:
    if requested < 0 or requested > maximum:
        raise InvalidArgument.single("page_size", f"must be 0-{maximum} (0 for {default})")
    return requested or default


def token_after(listing: Sequence[str], created_at: datetime, item_id: str) -> str:
    return page_tokens.issue(listing, [created_at.isoformat(), item_id])


def position(token: str, listing: Sequence[str]) -> tuple[datetime, uuid.UUID] | None:
    """Where the page after `token` starts in `listing` (its arguments); None for the first page."""
    parts = page_tokens.read(token, listing, size=2)
    if parts is None:
        return None
    try:
        # In UTC, as tokens are made: a time at the calendar's edge with an offset is past what the database takes.
        after = datetime.fromisoformat(parts[0])
        if after.tzinfo is None:
            raise ValueError("a token's time has its offset")
        return after.astimezone(UTC), uuid.UUID(parts[1])
    except (ValueError, OverflowError):
        raise InvalidArgument.single("page_token", page_tokens.NOT_A_TOKEN) from None


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
