"""What a tier name is, everywhere: the program names its tiers, and other services that name tiers (an agent's
tiers in the tickets service) check them the same way, so that a name that can never match is refused."""

from __future__ import annotations

import re

from services.common.errors import Violations, required_as

TIER_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
TIER_NAME_SHAPE = "1-32 of a-z, 0-9, '_', '-'"
# Most tiers a program has; a list of distinct tier names (a ladder) longer than this names some no program has.
MAX_TIERS = 20


# A refused name is quoted back only up to this length: one of 300,000 characters would fill the reason
# (an RPC's status, a dead letter's header) with itself.
_QUOTED_AT_MOST = 64


def check_tier_name(violations: Violations, field: str, name: str) -> None:
    if not TIER_NAME_PATTERN.fullmatch(name):
        quoted = name if 0 < len(name) <= _QUOTED_AT_MOST else None
        violations.add(field, required_as(name, TIER_NAME_SHAPE), value=quoted)
