"""Opaque page tokens for list calls: where the next page starts, bound to the listing that gave it.

A token carries the listing's arguments (the member, the partner and day, ...) beside its position. Passed
with other arguments it is refused: a position in one member's ledger would otherwise start another member's
listing part-way and silently leave out its first entries.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from services.common.errors import InvalidArgument

NOT_A_TOKEN = "is not a token from a previous page"
ANOTHER_LISTING = "comes from a listing with other arguments: ask again without it for the first page"


def issue(listing: Sequence[str], position: Sequence[str]) -> str:
    """The token of the page after `position` in the listing named by `listing` (its arguments)."""
    return base64.urlsafe_b64encode(json.dumps([list(listing), list(position)]).encode()).decode()


def read(token: str, listing: Sequence[str], size: int) -> list[str] | None:
    """The position `token` names in `listing` (`size` parts); None for the first page (no token)."""
    if not token:
        return None
    try:
        issued_for, position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidArgument.single("page_token", NOT_A_TOKEN) from None
    parts = _strings(position, size)
    if parts is None or not isinstance(issued_for, list):
        raise InvalidArgument.single("page_token", NOT_A_TOKEN)
    if issued_for != list(listing):
        raise InvalidArgument.single("page_token", ANOTHER_LISTING)
    return parts


def _strings(value: object, size: int) -> list[str] | None:
    if isinstance(value, list) and len(value) == size and all(isinstance(part, str) for part in value):
        return [str(part) for part in value]
    return None
