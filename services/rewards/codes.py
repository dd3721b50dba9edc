"""Codes, pure: generating them, reading them as typed, and whether one can be used now.

Codes come from the operating system's cryptographic randomness (`secrets`)
over an alphabet without look-alike characters (no 0/O, 1/I/L), so a code
read aloud or typed from a receipt is unambiguous. Twelve characters of 31
symbols are about 59 bits: guessing a valid code among millions is hopeless.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from services.rewards.domain import Value

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 12
MAX_PARTNER_CODE = 64
MIN_PARTNER_CODE = 4
# Random bytes below this map evenly onto the alphabet (248 = 8 x 31); the rest are dropped.
_UNBIASED_BELOW = 256 - 256 % len(ALPHABET)
_TO_SYMBOL = bytes(ord(ALPHABET[byte % len(ALPHABET)]) for byte in range(256))
_BIASED = bytes(range(_UNBIASED_BELOW, 256))


@dataclass(frozen=True)
class CodeRow:
    """A code as it stands, with what it is worth (as its redemption was issued, or from its campaign)."""

    code: str
    source: str  # generated, partner or promo
    status: str  # available (an unissued partner code), active or void
    max_uses: int
    uses: int
    valid_from: datetime | None
    expires_at: datetime | None
    value: Value
    name: str
    member_id: str
    redemption_id: str
    campaign_id: str
    # The redemption's step unless completed (still pending, or cancelled); None otherwise.
    redemption_step: str | None


def new_codes(count: int) -> list[str]:
    """`count` distinct fresh codes, drawn in bulk (a campaign needs 100,000 in a moment)."""
    fresh: set[str] = set()
    while len(fresh) < count:
        raw = secrets.token_bytes((count - len(fresh)) * LENGTH * 2)
        symbols = raw.translate(_TO_SYMBOL, _BIASED).decode("ascii")
        fresh.update(symbols[i : i + LENGTH] for i in range(0, len(symbols) - LENGTH + 1, LENGTH))
    return list(fresh)[:count]


def new_code() -> str:
    return new_codes(1)[0]


def is_generated(code: str) -> bool:
    """Whether `code` has the shape of a generated code (a promo code, or a page token that names one)."""
    return len(code) == LENGTH and all(symbol in ALPHABET for symbol in code)


def normalize(code: str) -> str:
    """Codes are matched without regard to case or surrounding spaces."""
    return code.strip().upper()


def partner_code_problem(code: str) -> str | None:
    """Why an uploaded partner code is unusable, or None."""
    if not MIN_PARTNER_CODE <= len(code) <= MAX_PARTNER_CODE or not code.isprintable() or " " in code:
        return f"must be {MIN_PARTNER_CODE}-{MAX_PARTNER_CODE} printable characters without spaces"
    if code != normalize(code):
        return "must be upper case (codes are matched without regard to case)"
    return None


def cancelled(code: CodeRow) -> bool:
    """Void, or its redemption is being or was cancelled: never usable again."""
    return code.status == "void" or code.redemption_step in ("cancelling", "cancelled")


def refusal(code: CodeRow, now: datetime) -> str | None:
    """Why the code cannot be used now, or None. Used up is told apart by the caller, with the order."""
    if cancelled(code):
        return "cancelled"
    if code.redemption_step is not None:
        return "not issued yet: its redemption is still pending"
    if code.valid_from is not None and now < code.valid_from:
        return "not valid yet"
    if code.expires_at is not None and code.expires_at <= now:
        return "expired"
    if code.uses >= code.max_uses:
        return "used up"
    return None
