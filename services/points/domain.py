"""Points domain: pure rules, no I/O. Functions take values and return decisions.

Rounding rule: points are earned on whole currency units of the amount paid,
rounded down (a purchase of 42.99 USD at 2 points per unit earns 84 points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from services.common.activity_time import check_activity_time
from services.common.bounds import MAX_POINTS, check_amount_minor
from services.common.currencies import currency_refusal, minor_unit_exponent
from services.common.errors import FailedPrecondition, InvalidArgument, Violations, required_as
from services.common.member_ids import check_member_id
from services.common.text_fields import check_email, check_line

PURCHASE_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")
ID_SHAPE = "1-128 printable ASCII characters without spaces"
BIRTH_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
DEFAULT_TIER = "base"
MAX_LINE_ITEMS = 1000
MAX_TEXT = 256


def closed_refusal(member_id: str, status: str) -> FailedPrecondition | None:
    """The refusal of anything that would earn, spend or move points for a closed member (CloseMember); None while
    the member is active. A closed member keeps its history, and its earlier purchases can still be refunded."""
    return FailedPrecondition(f"member_id: member {member_id!r} is closed") if status == "closed" else None


def require_open(member_id: str, status: str) -> None:
    """Raise closed_refusal's error for a closed member."""
    if refusal := closed_refusal(member_id, status):
        raise refusal


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class LineItem:
    sku: str
    category: str
    quantity: int
    unit_price: Money


@dataclass(frozen=True)
class Purchase:
    purchase_id: str
    member_id: str
    amount: Money
    line_items: tuple[LineItem, ...]
    occurred_at: datetime
    channel: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    purchase_id: str
    amount: Money
    occurred_at: datetime
    # The member the refund names (the PurchaseRefunded event does); empty when it names none.
    member_id: str = ""


@dataclass(frozen=True)
class Enrollment:
    member_id: str
    email: str
    given_name: str
    family_name: str
    # ISO 8601 date (YYYY-MM-DD) as given; empty when not given.
    birth_date: str = ""
    referrer_member_id: str = ""

    @property
    def birth_day(self) -> date | None:
        """The date of birth of a validated enrolment."""
        return date.fromisoformat(self.birth_date) if self.birth_date else None


@dataclass(frozen=True)
class Earning:
    """The decision for one purchase: how many points, and why."""

    points: int
    description: str


def validate_enrollment(enrollment: Enrollment) -> Enrollment:
    violations = Violations()
    check_member_id(violations, "member_id", enrollment.member_id)
    if enrollment.email:
        check_email(violations, "email", enrollment.email, max_length=MAX_TEXT)
    for field, value in (("given_name", enrollment.given_name), ("family_name", enrollment.family_name)):
        check_line(violations, field, value, max_length=MAX_TEXT)
    if enrollment.birth_date:
        _check_birth_date(violations, enrollment.birth_date, utc_now().date())
    if enrollment.referrer_member_id:
        check_member_id(violations, "referrer_member_id", enrollment.referrer_member_id)
        if enrollment.referrer_member_id == enrollment.member_id:
            violations.add("referrer_member_id", "must not be the member being enrolled")
    violations.raise_if_any()
    return enrollment


def _check_birth_date(violations: Violations, text: str, today: date) -> None:
    try:
        born = date.fromisoformat(text) if BIRTH_DATE_PATTERN.fullmatch(text) else None
    except ValueError:
        born = None
    if born is None:
        violations.add("birth_date", "is not a date of the form YYYY-MM-DD", value=text[:32])
    elif not EARLIEST_BIRTH_DATE <= born <= today:
        violations.add("birth_date", f"must be between {EARLIEST_BIRTH_DATE} and today (in UTC)")


def _check_money(violations: Violations, field: str, money: Money, *, currency: str | None = None) -> None:
    if not money.currency and not money.amount_minor:
        violations.add(field, "is required")  # absent: no currency and no amount
        return
    if refusal := currency_refusal(money.currency):
        violations.add(f"{field}.currency_code", refusal)
    elif currency is not None and money.currency != currency:
        violations.add(f"{field}.currency_code", f"must be the purchase currency {currency}")
    check_amount_minor(violations, f"{field}.amount_minor", money.amount_minor)


def _check_line_items(violations: Violations, purchase: Purchase) -> None:
    if len(purchase.line_items) > MAX_LINE_ITEMS:
        violations.add("line_items", f"at most {MAX_LINE_ITEMS} line items")
        return
    for index, item in enumerate(purchase.line_items):
        field = f"line_items[{index}]"
        check_line(violations, f"{field}.sku", item.sku, max_length=MAX_TEXT, required=True)
        check_line(violations, f"{field}.category", item.category, max_length=MAX_TEXT)
        if not 1 <= item.quantity <= 1_000_000:
            violations.add(f"{field}.quantity", "must be between 1 and 1000000")
        _check_money(violations, f"{field}.unit_price", item.unit_price, currency=purchase.amount.currency)


def validate_purchase(purchase: Purchase, now: datetime) -> Purchase:
    """Raise InvalidArgument naming every wrong field, or return the purchase."""
    violations = Violations()
    if not PURCHASE_ID_PATTERN.fullmatch(purchase.purchase_id):
        violations.add("purchase_id", required_as(purchase.purchase_id, ID_SHAPE))
    check_member_id(violations, "member_id", purchase.member_id)
    _check_money(violations, "amount", purchase.amount)
    _check_line_items(violations, purchase)
    check_activity_time(violations, "occurred_at", purchase.occurred_at, now)
    check_line(violations, "channel", purchase.channel, max_length=MAX_TEXT)
    violations.raise_if_any()
    return purchase


def validate_refund(refund: Refund, now: datetime) -> Refund:
    violations = Violations()
    for field, value in (("refund_id", refund.refund_id), ("purchase_id", refund.purchase_id)):
        if not PURCHASE_ID_PATTERN.fullmatch(value):
            violations.add(field, required_as(value, ID_SHAPE))
    _check_money(violations, "amount", refund.amount)
    if refund.amount.amount_minor == 0:
        violations.add("amount.amount_minor", "must be positive")
    check_activity_time(violations, "occurred_at", refund.occurred_at, now)
    violations.raise_if_any()
    return refund


def refund_difference(refund: Refund, purchase_id: str, amount: Money, member_id: str = "") -> str | None:
    """The first field `refund` gives otherwise than the refund recorded (or kept) under its id, of `purchase_id`
    for `amount` (and `member_id`, when both name one); None for a repeat. Its occurred_at is not compared: a retry
    may stamp it again."""
    if purchase_id != refund.purchase_id:
        return "purchase_id"
    if member_id and refund.member_id and member_id != refund.member_id:
        return "member_id"
    if amount.amount_minor != refund.amount.amount_minor:
        return "amount.amount_minor"
    if amount.currency != refund.amount.currency:
        return "amount.currency_code"
    return None


def earn_for_purchase(purchase: Purchase, points_per_unit: int) -> Earning:
    """Base earning: `points_per_unit` points per whole currency unit paid, rounded down."""
    whole_units = purchase.amount.amount_minor // 10 ** minor_unit_exponent(purchase.amount.currency)
    points = whole_units * points_per_unit
    if points > MAX_POINTS:
        raise InvalidArgument.single(
            "amount.amount_minor", f"earns more than {MAX_POINTS} points, the most one entry holds"
        )
    return Earning(
        points=points,
        description=(
            f"{points_per_unit} points per {purchase.amount.currency} on {whole_units} whole units"
            f" of purchase {purchase.purchase_id}"
        ),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
