"""Partner accrual decisions, pure: is a record valid, which rate converts it, what it earns, what to answer.

A batch of records is decided against what the store read for it: the
members it names, the partner's rates and the transaction ids the partner
already had accepted. The decisions say what to write (accepted ones) and
what to answer for every record, in order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from enum import StrEnum

import iuliia
from anyascii import anyascii

from services.common.activity_time import EARLIEST_ACTIVITY
from services.common.bounds import MAX_POINTS
from services.common.currencies import is_currency_code, minor_units, too_many_decimals
from services.common.errors import required_as
from services.common.member_ids import MEMBER_ID_PATTERN
from services.points.domain import PURCHASE_ID_PATTERN
from services.points.program import Rounding

MAX_BATCH = 5000
MAX_AMOUNT = Decimal(10**12)
# The first day an activity may be, as for a purchase's occurred_at.
EARLIEST_ACTIVITY_DATE = EARLIEST_ACTIVITY.date()
UNIT_PATTERN = re.compile(r"[A-Z0-9_]{1,16}")
UNIT_SHAPE = "1-16 of A-Z, 0-9, '_' (a currency code or a unit such as MILE)"
# Leading zeros are the padding of fixed-width files (airline and hotel feeds), not digits of the value.
DECIMAL_PATTERN = re.compile(r"0*[0-9]{1,13}(\.[0-9]{1,4})?")
ACTIVITY_TYPES = ("flight", "stay", "rental", "purchase")
_MODES = {Rounding.DOWN: ROUND_DOWN, Rounding.HALF_UP: ROUND_HALF_UP, Rounding.UP: ROUND_UP}


class Status(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNKNOWN_MEMBER = "unknown_member"
    NAME_MISMATCH = "name_mismatch"
    INVALID = "invalid"
    RATE_MISSING = "rate_missing"


@dataclass(frozen=True)
class RawRecord:
    """A record as the partner sent it (over gRPC or Kafka): every field still unchecked text."""

    partner_transaction_id: str
    member_id: str
    member_last_name: str
    # One of ACTIVITY_TYPES, or "" when the partner sent none (or one we do not know).
    activity_type: str
    activity_date: str
    unit: str
    amount: str
    bonus_amount: str
    pending: bool


@dataclass(frozen=True)
class Record:
    """A valid record."""

    partner_transaction_id: str
    member_id: str
    member_last_name: str
    activity_type: str
    activity_date: date
    unit: str
    amount: Decimal
    bonus_amount: Decimal
    pending: bool
    # The start of the activity date in the program's time zone: the tier window it counts in, its expiry.
    earned_at: datetime


@dataclass(frozen=True)
class Invalid:
    field: str
    reason: str


@dataclass(frozen=True)
class Rate:
    unit: str
    points_per_unit: Decimal
    rounding: Rounding
    effective_from: datetime


@dataclass(frozen=True)
class MemberFacts:
    family_name: str
    active: bool


@dataclass(frozen=True)
class Decision:
    partner_transaction_id: str
    status: Status
    # Credited now (ACCEPTED) or before (DUPLICATE).
    points: int = 0
    base_points: int = 0
    bonus_points: int = 0
    field: str = ""
    reason: str = ""
    # The valid record (None for an INVALID one).
    record: Record | None = None
    # The amount, for control totals; 0 when it could not be read.
    amount: Decimal = Decimal(0)


def parse(raw: RawRecord, today: date, zone: tzinfo = UTC) -> Record | Invalid:
    """The valid record, or the first wrong field and why; its date is a day of `zone` (today is `today` there)."""
    if not PURCHASE_ID_PATTERN.fullmatch(raw.partner_transaction_id):
        return Invalid(
            "partner_transaction_id",
            required_as(raw.partner_transaction_id, "1-128 printable ASCII characters without spaces"),
        )
    if not MEMBER_ID_PATTERN.fullmatch(raw.member_id):
        return Invalid("member_id", required_as(raw.member_id, "1-64 letters, digits, '.', '_', ':' or '-'"))
    if len(raw.member_last_name) > 256 or "\x00" in raw.member_last_name:
        return Invalid("member_last_name", "must be at most 256 characters, without the NUL character (\\x00)")
    if raw.activity_type not in ACTIVITY_TYPES:
        return Invalid("activity_type", required_as(raw.activity_type, f"one of {', '.join(ACTIVITY_TYPES)}"))
    activity_date = _date(raw.activity_date)
    if activity_date is None:
        return Invalid("activity_date", required_as(raw.activity_date, "a date YYYY-MM-DD"))
    if not EARLIEST_ACTIVITY_DATE <= activity_date <= today:
        return Invalid("activity_date", f"must be between {EARLIEST_ACTIVITY_DATE} and today")
    if not UNIT_PATTERN.fullmatch(raw.unit):
        return Invalid("unit", required_as(raw.unit, UNIT_SHAPE))
    amounts = _amounts(raw)
    if isinstance(amounts, Invalid):
        return amounts
    amount, bonus = amounts
    return Record(
        raw.partner_transaction_id,
        raw.member_id,
        raw.member_last_name,
        raw.activity_type,
        activity_date,
        raw.unit,
        amount,
        bonus,
        raw.pending,
        datetime.combine(activity_date, time(), tzinfo=zone),
    )


def _amounts(raw: RawRecord) -> tuple[Decimal, Decimal] | Invalid:
    """(amount, bonus amount), or the first wrong one and why."""
    amount = _decimal(raw.amount)
    if amount is None or not 0 < amount <= MAX_AMOUNT:
        return Invalid(
            "amount", required_as(raw.amount, f"a decimal above 0 and at most {MAX_AMOUNT}, at most 4 decimals")
        )
    bonus = _decimal(raw.bonus_amount) if raw.bonus_amount else Decimal(0)
    if bonus is None or bonus > amount:
        return Invalid("bonus_amount", "must be a decimal between 0 and amount, at most 4 decimals")
    for field, text, value in (("amount", raw.amount, amount), ("bonus_amount", raw.bonus_amount, bonus)):
        # A currency has no amount finer than its minor unit: 0.5 JPY would earn what no one paid.
        if is_currency_code(raw.unit) and minor_units(value, raw.unit) is None:
            return Invalid(field, f"{text} {too_many_decimals(raw.unit)}")
    return amount, bonus


def _date(text: str) -> date | None:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _decimal(text: str) -> Decimal | None:
    if not DECIMAL_PATTERN.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def amount_of(raw: RawRecord) -> Decimal:
    """The amount for control totals, 0 when it is not a readable decimal."""
    return _decimal(raw.amount) or Decimal(0)


def rate_on(rates: Sequence[Rate], unit: str, moment: datetime) -> Rate | None:
    """The unit's latest rate taking effect at or before `moment`."""
    in_force = [rate for rate in rates if rate.unit == unit and rate.effective_from <= moment]
    return max(in_force, key=lambda rate: rate.effective_from, default=None)


def convert(rate: Rate, amount: Decimal, bonus_amount: Decimal) -> tuple[int, int]:
    """(base points, bonus points), each rounded by the rate's rule."""
    mode = _MODES[rate.rounding]
    base = (amount - bonus_amount) * rate.points_per_unit
    bonus = bonus_amount * rate.points_per_unit
    return int(base.to_integral_value(rounding=mode)), int(bonus.to_integral_value(rounding=mode))


def names_differ(family_name: str, given: str) -> bool:
    """Whether both names are known and differ, ignoring case, accents, spaces, hyphens and apostrophes.

    Names are compared as ASCII-only systems (airline reservations) write them: Yildiz (dotless) as YILDIZ, Øberg as
    OBERG, or as a passport's machine-readable zone does (ICAO Doc 9303): Müller as MUELLER, Øberg as OEBERG, Цой
    as TSOI. Either
    form of one name matching either form of the other is a match. A name of nothing but those (" ", "-") is not
    known.
    """
    family, other = _forms(family_name), _forms(given)
    return bool(family and other) and not family & other


# ICAO Doc 9303 part 3's transliterations that differ from stripping the accent (Ä is A stripped, AE here); the
# rest (ß as SS, Æ as AE, Œ as OE) anyascii already writes so.
_ICAO_9303 = str.maketrans(
    {"Ä": "AE", "ä": "ae", "Ö": "OE", "ö": "oe", "Ü": "UE", "ü": "ue", "Å": "AA", "å": "aa", "Ø": "OE", "ø": "oe"}
)


# Cyrillic, which ICAO Doc 9303 transliterates otherwise than anyascii does (Юсупов as IUSUPOV, Цой as TSOI, not
# YUSUPOV, TSOY): Russian passports write names so since 2013.
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def _forms(name: str) -> set[str]:
    """The name with its accents stripped and as ICAO expands them (composed first: u and a combining diaeresis
    is ü), and a Cyrillic one as ICAO transliterates it; empty when nothing is left of it."""
    composed = unicodedata.normalize("NFC", name)
    forms = {_fold(name), _fold(composed.translate(_ICAO_9303))}
    if _CYRILLIC.search(composed):
        forms.add(_fold(iuliia.ICAO_DOC_9303.translate(composed)))
    return {form for form in forms if form}


def _fold(name: str) -> str:
    return "".join(c for c in anyascii(name).casefold() if c.isalnum())


def decide(
    parsed: Sequence[Record | Invalid],
    raws: Sequence[RawRecord],
    *,
    members: Mapping[str, MemberFacts],
    accepted_before: Mapping[str, int],
    rates: Sequence[Rate],
) -> list[Decision]:
    """One decision per record, in order; a transaction id repeated within the batch is a duplicate of its first."""
    decisions: list[Decision] = []
    seen: dict[str, int] = dict(accepted_before)
    for raw, item in zip(raws, parsed, strict=True):
        amount = amount_of(raw)
        if isinstance(item, Invalid):
            decision = Decision(
                raw.partner_transaction_id, Status.INVALID, field=item.field, reason=item.reason, amount=amount
            )
        else:
            decision = _decide_one(item, members, seen, rates)
        if decision.status is Status.ACCEPTED:
            seen[decision.partner_transaction_id] = decision.points
        decisions.append(decision)
    return decisions


def _decide_one(
    record: Record, members: Mapping[str, MemberFacts], seen: Mapping[str, int], rates: Sequence[Rate]
) -> Decision:
    tx, amount = record.partner_transaction_id, record.amount
    if tx in seen:
        return Decision(tx, Status.DUPLICATE, points=seen[tx], record=record, amount=amount)
    member = members.get(record.member_id)
    if member is None or not member.active:
        return Decision(
            tx, Status.UNKNOWN_MEMBER, reason=f"no active member {record.member_id!r}", record=record, amount=amount
        )
    if names_differ(member.family_name, record.member_last_name):
        return Decision(
            tx,
            Status.NAME_MISMATCH,
            reason="member_last_name is not the member's family name",
            record=record,
            amount=amount,
        )
    # Rates take effect at moments given in UTC (a `--from` date is its 00:00 UTC): the date is read there.
    rate = rate_on(rates, record.unit, datetime.combine(record.activity_date, time(), tzinfo=UTC))
    if rate is None:
        reason = f"no conversion rate for {record.unit} on {record.activity_date}"
        return Decision(tx, Status.RATE_MISSING, reason=reason, record=record, amount=amount)
    base, bonus = convert(rate, amount, record.bonus_amount)
    if base + bonus > MAX_POINTS:
        reason = f"converts to more than {MAX_POINTS} points, the most one entry holds"
        return Decision(tx, Status.INVALID, field="amount", reason=reason, amount=amount)
    return Decision(
        tx, Status.ACCEPTED, points=base + bonus, base_points=base, bonus_points=bonus, record=record, amount=amount
    )
