"""Partner administration: registration, conversion rates, API keys and the daily control totals.

A unit's rates only grow in effective_from, as program versions do: a rate set
before the latest one would convert again the dates records were already
converted for, and a partner's file would reconcile differently depending on
when it was sent.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

import asyncpg

from services.common import page_tokens
from services.common.auth import PARTNER_KEY_PREFIX
from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations, required_as
from services.common.text_fields import check_line
from services.points import partners_store
from services.points.accrual_application import key_hash
from services.points.partner_accrual import UNIT_PATTERN, UNIT_SHAPE, Rate
from services.points.program import Rounding

PARTNER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
PARTNER_KINDS = ("airline", "hotel", "car", "retail", "other")
MAX_RATE = Decimal(1_000_000)
# Lines of control totals in one answer: well under gRPC's 4 MB (a line is a few hundred bytes at most).
MAX_RECONCILIATION_PAGE = 10_000


@dataclass(frozen=True)
class PartnerView:
    partner: partners_store.PartnerRow
    rates: list[Rate]


@dataclass(frozen=True)
class IssuedKey:
    credential_id: uuid.UUID
    api_key: str


def check_partner_id(violations: Violations, partner_id: str) -> None:
    if not PARTNER_ID_PATTERN.fullmatch(partner_id):
        violations.add(
            "partner_id", required_as(partner_id, "1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        )


def parse_rate(unit: str, points_per_unit: str, effective_from: datetime | None, rounding: Rounding) -> Rate:
    violations = Violations()
    if not UNIT_PATTERN.fullmatch(unit):
        violations.add("rate.unit", required_as(unit, UNIT_SHAPE))
    try:
        # Leading zeros are the padding of fixed-width files, not digits of the value.
        rate = Decimal(points_per_unit) if re.fullmatch(r"0*[0-9]{1,7}(\.[0-9]{1,4})?", points_per_unit) else None
    except InvalidOperation:
        rate = None
    if rate is None or not 0 < rate <= MAX_RATE:
        violations.add(
            "rate.points_per_unit", required_as(points_per_unit, f"a decimal above 0, at most {MAX_RATE}, 4 decimals")
        )
    if effective_from is None:
        violations.add("rate.effective_from", "is required")
    violations.raise_if_any()
    assert rate is not None and effective_from is not None
    return Rate(unit, rate, rounding, effective_from)


def day_bounds(day: str) -> tuple[datetime, datetime]:
    try:
        parsed = date.fromisoformat(day) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidArgument.single("day", required_as(day, "a date YYYY-MM-DD (UTC)"))
    start = datetime.combine(parsed, time(), tzinfo=UTC)
    # The last day a date can name has no next day in Python: it ends where time does.
    end = start + timedelta(days=1) if parsed < date.max else datetime.max.replace(tzinfo=UTC)
    return start, end


class PartnerApplication:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def register(self, partner_id: str, name: str, kind: str) -> PartnerView:
        violations = Violations()
        check_partner_id(violations, partner_id)
        check_line(violations, "name", name, max_length=256, required=True)
        if kind not in PARTNER_KINDS:
            violations.add("kind", required_as(kind, f"one of {', '.join(PARTNER_KINDS)}"))
        violations.raise_if_any()
        async with unit_of_work(self._pool) as connection:
            row = await partners_store.insert_partner(connection, partner_id, name, kind)
        if row is None:
            raise AlreadyExists(f"partner_id: partner {partner_id!r} is already registered")
        return PartnerView(row, [])

    async def get(self, partner_id: str) -> PartnerView:
        async with self._pool.acquire() as connection:
            return await _view(connection, partner_id)

    async def set_rate(self, partner_id: str, rate: Rate) -> PartnerView:
        """Add `rate` as the unit's next one: records already converted keep the rate their date had."""
        async with unit_of_work(self._pool) as connection:
            await _view(connection, partner_id)
            await partners_store.lock_partner(connection, partner_id)
            latest = await partners_store.latest_rate_start(connection, partner_id, rate.unit)
            if latest is not None and latest > rate.effective_from:
                raise FailedPrecondition(
                    f"rate.effective_from: must be after {latest.isoformat()}, when the latest {rate.unit} rate of"
                    f" partner {partner_id!r} takes effect: rates are never rewritten"
                )
            if not await partners_store.insert_rate(connection, partner_id, rate):
                raise AlreadyExists(
                    f"rate.effective_from: {rate.unit} already has a rate from {rate.effective_from.isoformat()}"
                )
            return await _view(connection, partner_id)

    async def issue_key(self, partner_id: str) -> IssuedKey:
        api_key = PARTNER_KEY_PREFIX + secrets.token_urlsafe(32)
        async with unit_of_work(self._pool) as connection:
            await _view(connection, partner_id)
            credential_id = await partners_store.insert_credential(connection, partner_id, key_hash(api_key))
        return IssuedKey(credential_id, api_key)

    async def revoke_key(self, partner_id: str, credential_id: str) -> datetime:
        violations = Violations()
        check_partner_id(violations, partner_id)
        violations.raise_if_any()
        try:
            parsed = uuid.UUID(credential_id)
        except ValueError:
            raise InvalidArgument.single("credential_id", "must be an id from IssuePartnerCredential") from None
        async with unit_of_work(self._pool) as connection:
            revoked = await partners_store.revoke_credential(connection, partner_id, parsed)
        if revoked is None:
            raise NotFound(f"credential_id: partner {partner_id!r} has no key {credential_id}")
        return revoked

    async def control_totals(
        self, partner_id: str, day: str, page_size: int, page_token: str
    ) -> tuple[list[partners_store.ControlTotal], str]:
        """A page of the day's control totals, and the token of the next page ('' after the last)."""
        start, end = day_bounds(day)
        if not 0 <= page_size <= MAX_RECONCILIATION_PAGE:
            raise InvalidArgument.single("page_size", f"must be 0-{MAX_RECONCILIATION_PAGE} (0 for the most)")
        limit = page_size or MAX_RECONCILIATION_PAGE
        after = _line_after(partner_id, day, page_token)
        async with self._pool.acquire() as connection:
            await _view(connection, partner_id)
            lines = await partners_store.control_totals(
                connection, partner_id, start, end, after=after, limit=limit + 1
            )
        if len(lines) <= limit:
            return lines, ""
        last = lines[limit - 1]
        return lines[:limit], page_tokens.issue([partner_id, day], [last.status, last.unit])


def _line_after(partner_id: str, day: str, page_token: str) -> tuple[str, str] | None:
    """The (status, unit) a page token names the line before; None for the first page."""
    position = page_tokens.read(page_token, [partner_id, day], size=2)
    return None if position is None else (position[0], position[1])


async def _view(connection: asyncpg.Connection, partner_id: str) -> PartnerView:
    violations = Violations()
    check_partner_id(violations, partner_id)
    violations.raise_if_any()
    row = await partners_store.get_partner(connection, partner_id)
    if row is None:
        raise NotFound(f"partner_id: partner {partner_id!r} is not registered")
    return PartnerView(row, await partners_store.rates(connection, partner_id))
