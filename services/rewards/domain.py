"""Rewards rules, pure: what a reward is, who may redeem it now, and where a redemption stands.

No I/O: functions take values and return decisions (a refusal, a period, a
status); the application layer reads and writes around them.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.common.bounds import MAX_POINTS, MAX_REWARD_NAME, check_amount_minor
from services.common.currencies import currency_refusal
from services.common.errors import Violations, check_each_once
from services.common.text_fields import check_line, check_lines, is_blank
from services.common.tier_names import MAX_TIERS, check_tier_name
from services.common.time_order import check_after

KINDS = ("discount_fixed", "discount_percent", "free_product", "upgrade", "cashback", "partner")
TRIGGERS = ("redeem", "tier_welcome", "birthday")
CODE_SOURCES = ("generated", "partner_pool")
LIMIT_PERIODS = ("lifetime", "day", "month", "year")
MAX_NAME = MAX_REWARD_NAME  # also what a reward names besides itself (its sku, partner, trigger tier)
MAX_DESCRIPTION = 2000
MAX_KEY = 128
MIN_CODE_VALIDITY = timedelta(hours=1)
MAX_CODE_VALIDITY = timedelta(days=3650)
DEFAULT_CODE_VALIDITY = timedelta(days=30)

# Steps of a redemption (see migration 002) and the status each shows.
UNFINISHED_STEPS = ("pending", "held", "reserved")
STATUS_OF_STEP = {
    "pending": "pending",
    "held": "pending",
    "reserved": "pending",
    "completed": "completed",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Value:
    """What a reward or promo code gives."""

    kind: str
    amount_minor: int = 0
    currency_code: str = ""
    percent_off: int = 0
    sku: str = ""
    partner: str = ""


@dataclass(frozen=True)
class RewardSpec:
    name: str
    description: str
    value: Value
    cost_points: int
    min_tier: str
    stock_total: int | None  # None: unlimited
    valid_from: datetime | None
    valid_until: datetime | None
    per_member_limit: int
    limit_period: str  # '' without a limit
    code_source: str
    code_validity: timedelta
    trigger: str
    trigger_tier: str


@dataclass(frozen=True)
class Reward:
    reward_id: str
    spec: RewardSpec
    stock_available: int | None
    status: str
    created_at: datetime
    updated_at: datetime
    partner_codes_available: int
    # Units out (reserved or completed redemptions and perks), counted whether the stock is limited or not.
    stock_issued: int


@dataclass(frozen=True)
class Refusal:
    """Why a member cannot redeem a reward now; `out_of_stock` maps to RESOURCE_EXHAUSTED."""

    reason: str
    out_of_stock: bool = False


def validate_value(violations: Violations, value: Value, prefix: str) -> None:
    """Each kind needs its own fields; `prefix` names where the value sits in the request."""
    if value.kind not in KINDS:
        violations.add(f"{prefix}kind", "is required")
        return
    if value.kind in ("discount_fixed", "cashback"):
        if value.amount_minor <= 0:
            violations.add(f"{prefix}amount.amount_minor", f"must be positive for {value.kind}")
        else:
            check_amount_minor(violations, f"{prefix}amount.amount_minor", value.amount_minor)
        if refusal := currency_refusal(value.currency_code):
            violations.add(f"{prefix}amount.currency_code", refusal)
    elif value.amount_minor or value.currency_code:
        violations.add(f"{prefix}amount", f"must be empty for {value.kind}")
    if (value.kind == "discount_percent") != (value.percent_off != 0) or not 0 <= value.percent_off <= 100:
        violations.add(f"{prefix}percent_off", "must be 1-100 for discount_percent, zero otherwise")
    _validate_kind_text(violations, f"{prefix}sku", value.sku, value.kind, ("free_product", "upgrade"))
    _validate_kind_text(violations, f"{prefix}partner", value.partner, value.kind, ("partner",))


def _validate_kind_text(violations: Violations, field: str, text: str, kind: str, needed_by: tuple[str, ...]) -> None:
    """A text only some kinds give: required for those (not blank), and empty for the others. A space or a tab is
    set all the same: it would be stored and shown with a kind that gives no such thing."""
    if kind in needed_by:
        if is_blank(text):
            violations.add(field, f"is required for {kind}")
        else:
            check_line(violations, field, text, max_length=MAX_NAME)
    elif text:
        violations.add(field, f"must be empty for {kind}: only {' and '.join(needed_by)} give one")


def validate_name(violations: Violations, field: str, name: str) -> None:
    check_line(violations, field, name, max_length=MAX_NAME, required=True)


def validate_window(
    violations: Violations, valid_from: datetime | None, valid_until: datetime | None, prefix: str = ""
) -> None:
    if valid_from is not None and valid_until is not None:
        check_after(violations, f"{prefix}valid_until", valid_until, f"{prefix}valid_from", valid_from)


def validate_spec(spec: RewardSpec, ladder: Sequence[str]) -> None:
    violations = Violations()
    validate_name(violations, "spec.name", spec.name)
    check_lines(violations, "spec.description", spec.description, max_length=MAX_DESCRIPTION)
    validate_value(violations, spec.value, "spec.")
    if spec.trigger not in TRIGGERS:
        violations.add("spec.trigger", "is required")
    elif spec.trigger != "redeem" and spec.cost_points != 0:
        violations.add("spec.cost_points", "must be zero for perks (tier_welcome, birthday)")
    if not 0 <= spec.cost_points <= MAX_POINTS:
        violations.add("spec.cost_points", f"must be 0-{MAX_POINTS}")
    _validate_trigger_tier(violations, spec.trigger, spec.trigger_tier)
    if spec.min_tier and spec.min_tier not in ladder:
        violations.add("spec.min_tier", f"{spec.min_tier!r} is not on the tier ladder (SetTierLadder)")
    if spec.stock_total is not None and not 0 <= spec.stock_total <= MAX_POINTS:
        violations.add("spec.stock_total", f"must be 0-{MAX_POINTS}")
    validate_window(violations, spec.valid_from, spec.valid_until, "spec.")
    if spec.per_member_limit < 0:
        violations.add("spec.per_member_limit", "must not be negative")
    if (spec.per_member_limit > 0) != (spec.limit_period in LIMIT_PERIODS):
        violations.add("spec.limit_period", "is required with per_member_limit, unspecified without")
    if spec.code_source not in CODE_SOURCES:
        violations.add("spec.code_source", "is required")
    if not MIN_CODE_VALIDITY <= spec.code_validity <= MAX_CODE_VALIDITY:
        violations.add("spec.code_validity", "must be between 1 hour and 3650 days")
    violations.raise_if_any()


def _validate_trigger_tier(violations: Violations, trigger: str, trigger_tier: str) -> None:
    # Held to the program's tier names: the perk is granted when TierReached names this tier, and a name no
    # program can have (a space, a capital) would never be.
    if trigger == "tier_welcome":
        check_tier_name(violations, "spec.trigger_tier", trigger_tier)
    elif trigger_tier:
        violations.add("spec.trigger_tier", "must be empty: only tier_welcome perks name a tier")


def validate_ladder(tiers: Sequence[str]) -> None:
    """The ladder names tiers as the program does, each once, at most as many as a program has. One too long is
    refused as a whole, not entry by entry: ten thousand entries would make ten thousand violations."""
    violations = Violations()
    if not tiers:
        violations.add("tiers", f"is required: 1-{MAX_TIERS} tier names, lowest first")
    elif len(tiers) > MAX_TIERS:
        violations.add("tiers", f"must name at most {MAX_TIERS} tiers, as a program has at most")
    else:
        for index, tier in enumerate(tiers):
            check_tier_name(violations, f"tiers[{index}]", tier)
        check_each_once(violations, "tiers", tiers, "tier")
    violations.raise_if_any()


def stock_total_refusal(previous: Reward, stock_total: int | None) -> str | None:
    """Why the new total cannot be: below the units already issued (while limited or not), which stay issued."""
    if stock_total is not None and stock_total < previous.stock_issued:
        units = "unit" if previous.stock_issued == 1 else "units"
        return f"spec.stock_total: below the {previous.stock_issued} {units} already issued"
    return None


def period_start(period: str, now: datetime) -> datetime | None:
    """Start of the calendar period (UTC) a per-member limit counts in; None for lifetime."""
    moment = now.astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {"day": day, "month": day.replace(day=1), "year": day.replace(month=1, day=1)}
    return starts.get(period)


def tier_allows(min_tier: str, member_tier: str | None, ladder: Sequence[str]) -> bool:
    if not min_tier:
        return True
    if member_tier is None or member_tier not in ladder or min_tier not in ladder:
        return False
    return ladder.index(member_tier) >= ladder.index(min_tier)


def in_window(reward: Reward, now: datetime) -> bool:
    spec = reward.spec
    return (spec.valid_from is None or spec.valid_from <= now) and (spec.valid_until is None or now < spec.valid_until)


def has_stock(reward: Reward) -> bool:
    pool_ok = reward.spec.code_source != "partner_pool" or reward.partner_codes_available > 0
    return pool_ok and (reward.stock_available is None or reward.stock_available > 0)


def redeem_refusal(
    reward: Reward, member_tier: str | None, ladder: Sequence[str], redeemed_in_period: int, now: datetime
) -> Refusal | None:
    """Why the member may not redeem the reward now (points aside), or None."""
    spec = reward.spec
    if reward.status != "active":
        return Refusal("not eligible: the reward is archived")
    if spec.trigger != "redeem":
        return Refusal(f"not eligible: the reward is a {spec.trigger} perk, granted automatically")
    if not in_window(reward, now):
        return Refusal("not eligible: the reward is outside its validity window")
    if not tier_allows(spec.min_tier, member_tier, ladder):
        return Refusal(f"not eligible: needs tier {spec.min_tier} or above, member is {member_tier or 'unknown'}")
    if spec.per_member_limit and redeemed_in_period >= spec.per_member_limit:
        return Refusal(f"not eligible: per-member limit of {spec.per_member_limit} per {spec.limit_period} reached")
    if not has_stock(reward):
        return Refusal(f"reward_id: reward {reward.reward_id} is out of stock", out_of_stock=True)
    return None


def birthdays_celebrated_on(today: date) -> list[tuple[int, int]]:
    """The (month, day) birth dates celebrated today; 29 February is celebrated on the 28th in common years."""
    celebrated = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        celebrated.append((2, 29))
    return celebrated


def parse_birth_date(raw: str) -> date | None:
    """A MemberEnrolled birth date (YYYY-MM-DD), or None when empty; ValueError when malformed."""
    return date.fromisoformat(raw) if raw else None
