"""What a member id is, everywhere: the points service issues them, and every service checks them the same way."""

from __future__ import annotations

import re

from services.common.errors import Violations

MEMBER_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_member_id(violations: Violations, field: str, member_id: str) -> None:
    if not member_id:
        violations.add(field, "is required")
    elif not MEMBER_ID_PATTERN.fullmatch(member_id):
        violations.add(field, "must be 1-64 letters, digits, '.', '_', ':' or '-'")


def require_member_id(member_id: str, field: str = "member_id") -> str:
    violations = Violations()
    check_member_id(violations, field, member_id)
    violations.raise_if_any()
    return member_id
