"""Code use cases: validate and redeem codes at checkout; promo campaigns with their codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from loyalty.events.v1 import rewards_pb2 as events

from services.common import page_tokens
from services.common.db import unit_of_work
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations, required_as
from services.common.text_fields import check_line
from services.rewards import codes, codes_store, domain, paging
from services.rewards.codes import CodeRow
from services.rewards.codes_store import Campaign
from services.rewards.events import emit

MAX_CAMPAIGN_CODES = 1_000_000
MAX_USES_PER_CODE = 1_000_000
# Codes go in by batches of this many, one statement each.
INSERT_BATCH = 50_000


@dataclass(frozen=True)
class CodeCheck:
    code: CodeRow
    refusal: str | None


@dataclass(frozen=True)
class CodeUse:
    code: CodeRow
    used_at: datetime
    duplicate: bool


@dataclass(frozen=True)
class CampaignRequest:
    name: str
    value: domain.Value
    code_count: int
    uses_per_code: int
    valid_from: datetime | None
    valid_until: datetime | None
    idempotency_key: str


def _validate_campaign(request: CampaignRequest) -> None:
    violations = Violations()
    domain.validate_name(violations, "name", request.name)
    domain.validate_value(violations, request.value, "value.")
    if not 1 <= request.code_count <= MAX_CAMPAIGN_CODES:
        violations.add("code_count", f"must be 1-{MAX_CAMPAIGN_CODES}")
    if not 1 <= request.uses_per_code <= MAX_USES_PER_CODE:
        violations.add("uses_per_code", f"must be 1-{MAX_USES_PER_CODE}")
    domain.validate_window(violations, request.valid_from, request.valid_until)
    check_line(violations, "idempotency_key", request.idempotency_key, max_length=domain.MAX_KEY, required=True)
    violations.raise_if_any()


def _terms(campaign: Campaign | CampaignRequest) -> tuple[object, ...]:
    """What a campaign is; a repeat of its key must ask for exactly this."""
    return (
        campaign.name,
        campaign.value,
        campaign.code_count,
        campaign.uses_per_code,
        campaign.valid_from,
        campaign.valid_until,
    )


def _code_from(raw: str, violations: Violations | None = None) -> str:
    """The code as stored; refused naming `code`, alone or with what `violations` holds already."""
    violations = violations or Violations()
    code = codes.normalize(raw)
    if not code or len(code) > codes.MAX_PARTNER_CODE:
        violations.add("code", required_as(code, f"at most {codes.MAX_PARTNER_CODE} characters"))
    violations.raise_if_any()
    return code


async def _known_code(connection: asyncpg.Connection, code: str, *, lock: bool = False) -> CodeRow:
    row = await codes_store.get(connection, code, lock=lock)
    if row is None or row.status == "available":  # an unissued partner code is nobody's yet
        raise NotFound(f"code: no code {code!r}")
    return row


class CodesApplication:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def validate(self, raw_code: str) -> CodeCheck:
        code = _code_from(raw_code)
        async with self._pool.acquire() as connection:
            row = await _known_code(connection, code)
        return CodeCheck(row, codes.refusal(row, domain.utc_now()))

    async def redeem(self, raw_code: str, order_id: str) -> CodeUse:
        violations = Violations()
        check_line(violations, "order_id", order_id, max_length=domain.MAX_KEY, required=True)
        code = _code_from(raw_code, violations)
        now = domain.utc_now()
        async with unit_of_work(self._pool) as connection:
            row = await _known_code(connection, code, lock=True)
            used_at = await codes_store.use_of(connection, code, order_id)
            if used_at is not None:
                return CodeUse(row, used_at, duplicate=True)
            refusal = codes.refusal(row, now)
            if refusal == "used up":
                orders = await codes_store.orders_of(connection, code)
                raise FailedPrecondition(f"code: already used by order {orders[-1]}")
            if refusal is not None:
                raise FailedPrecondition(f"code: {refusal}")
            await codes_store.record_use(connection, code, order_id, now)
            used = events.CodeUsed(
                code=code,
                order_id=order_id,
                member_id=row.member_id,
                redemption_id=row.redemption_id,
                campaign_id=row.campaign_id,
            )
            await emit(connection, used, row.member_id or row.campaign_id, now)
            return CodeUse(await _known_code(connection, code), now, duplicate=False)

    async def create_campaign(self, request: CampaignRequest) -> tuple[Campaign, bool]:
        """The campaign, with all its codes generated, and whether the key had created it before."""
        _validate_campaign(request)
        campaign = Campaign(
            campaign_id=str(uuid.uuid4()),
            name=request.name,
            value=request.value,
            code_count=request.code_count,
            uses_per_code=request.uses_per_code,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            created_at=domain.utc_now(),
        )
        async with unit_of_work(self._pool) as connection:
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"campaign:{request.idempotency_key}"
            )
            previous = await codes_store.campaign_by_key(connection, request.idempotency_key)
            if previous is not None:
                if _terms(previous) != _terms(request):
                    raise AlreadyExists("idempotency_key: already used for a different campaign")
                return previous, True
            # Checked for a new campaign only: a retry of one created before its end still answers it.
            if request.valid_until is not None and request.valid_until <= campaign.created_at:
                raise InvalidArgument.single("valid_until", "must be in the future: no code could be used")
            await codes_store.insert_campaign(connection, campaign, request.idempotency_key)
            await _generate(connection, campaign)
        return campaign, False

    async def promo_codes(self, campaign_id: str, page_size: int, page_token: str) -> tuple[list[str], str]:
        violations = Violations()
        paging.check_id(violations, "campaign_id", campaign_id)
        violations.raise_if_any()
        parsed = uuid.UUID(campaign_id)
        after = page_tokens.read(page_token, [str(parsed)], size=1)
        if after is not None and not codes.is_generated(after[0]):
            raise InvalidArgument.single("page_token", page_tokens.NOT_A_TOKEN)
        limit = paging.page_size(page_size, default=1000, maximum=10_000)
        async with self._pool.acquire() as connection:
            if not await codes_store.campaign_exists(connection, parsed):
                raise NotFound(f"campaign_id: no campaign {campaign_id!r}")
            page = await codes_store.promo_codes(connection, parsed, after[0] if after else "", limit)
        return page, page_tokens.issue([str(parsed)], [page[-1]]) if len(page) == limit else ""


async def _generate(connection: asyncpg.Connection, campaign: Campaign) -> None:
    """All the campaign's codes, a batch per statement; a code that collides is drawn again."""
    missing = campaign.code_count
    while missing:
        batch = codes.new_codes(min(missing, INSERT_BATCH))
        missing -= await codes_store.insert_promo_codes(connection, campaign.campaign_id, campaign.uses_per_code, batch)
