"""Opaque page tokens for list calls: where the next page starts, bound to the listing that gave it.

A token carries the listing's arguments (the member, the partner and day, ...) beside its position. Passed
with other arguments it is refused: a position in one member's ledger would otherwise start another member's
listing part-way and silently leave out its first entries.

A token comes back from the caller, who may have forged it: every string in it must be one a listing could have
put there, or the token is refused here, for every listing alike, before a listing turns a part into a number
(int() raises ValueError past 4300 digits) or hands it to PostgreSQL (whose text holds no NUL, and only UTF-8).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeGuard

from services.common.errors import InvalidArgument

NOT_A_TOKEN = "is not a token from a previous page"
ANOTHER_LISTING = "comes from a listing with other arguments: ask again without it for the first page"
# Above the longest part a listing puts in a token: a member or partner id (64 characters), a time with its
# offset (32), a UUID (36).
MAX_PART = 100
# Far above any token issued (a few parts of at most MAX_PART characters, base64 encoded); a longer one is not
# decoded at all, which also bounds how deep its JSON can nest.
MAX_TOKEN = 1024


def issue(listing: Sequence[str], position: Sequence[str]) -> str:
    """The token of the page after `position` in the listing named by `listing` (its arguments)."""
    return base64.urlsafe_b64encode(json.dumps([list(listing), list(position)]).encode()).decode()


def read(token: str, listing: Sequence[str], size: int) -> list[str] | None:
    """The position `token` names in `listing` (`size` parts); None for the first page (no token)."""
    if not token:
        return None
    issued_for, position = _decoded(token, size)
    if issued_for != list(listing):
        raise InvalidArgument.single("page_token", ANOTHER_LISTING)
    return position


def issue_after(listing: Sequence[str], time: datetime, item_id: object) -> str:
    """The token of the page after an item ordered by a time and then its UUID."""
    return issue(listing, [time.isoformat(), str(item_id)])


def read_time_and_id(token: str, listing: Sequence[str]) -> tuple[datetime, uuid.UUID] | None:
    """The time and UUID of the item a page after `token` follows in `listing`; None for the first page."""
    parts = read(token, listing, size=2)
    return None if parts is None else time_and_id(parts)


def time_and_id(parts: Sequence[str]) -> tuple[datetime, uuid.UUID]:
    """A position of a time (ISO format, with its offset) and a UUID, as a listing issues one."""
    try:
        # In UTC, as tokens are made: a time at the calendar's edge with an offset is past what the database takes.
        after = datetime.fromisoformat(parts[0])
        if after.tzinfo is None:
            raise ValueError("a token's time has its offset")
        return after.astimezone(UTC), uuid.UUID(parts[1])
    except (ValueError, OverflowError):
        raise InvalidArgument.single("page_token", NOT_A_TOKEN) from None


def _decoded(token: str, size: int) -> tuple[list[str], list[str]]:
    """The listing arguments and the position (`size` parts) in `token`, each a part a listing could issue."""
    if len(token) > MAX_TOKEN:
        raise InvalidArgument.single("page_token", NOT_A_TOKEN)
    try:
        issued_for, position = json.loads(base64.urlsafe_b64decode(token.encode()))
    # RecursionError: json reads nested lists by recursion (MAX_TOKEN already keeps them shallow).
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        raise InvalidArgument.single("page_token", NOT_A_TOKEN) from None
    if not (_parts(issued_for) and _parts(position) and len(position) == size):
        raise InvalidArgument.single("page_token", NOT_A_TOKEN)
    return issued_for, position


def _parts(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(_is_part(part) for part in value)


def _is_part(value: object) -> bool:
    if not isinstance(value, str) or len(value) > MAX_PART or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, which a JSON escape (\ud800) can write
        return False
    return True
