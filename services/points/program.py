"""Earning programs as data: the model. Pure, no I/O.

A program is an immutable value read from its YAML definition by
`program_schema.parse_program` (docs/program.md documents every field). The
store keeps every applied definition as a version with its effective-from
time; `earning.price_purchase` prices a purchase under one.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from services.points.domain import LineItem, Money, Purchase


class Rounding(StrEnum):
    """How a component's exact Decimal value becomes whole points.

    Reductions use it too: the base reduced by multipliers below 1 is rounded
    once by it, like the base, and each reduction is what it moves that value
    by (docs/program.md#rounding). Only caps round toward zero.
    """

    DOWN = "down"
    HALF_UP = "half_up"
    UP = "up"


class BonusPer(StrEnum):
    PURCHASE = "purchase"
    UNIT = "unit"


class TierBasis(StrEnum):
    POINTS = "points"
    SPEND = "spend"


class TierWindow(StrEnum):
    CALENDAR_YEAR = "calendar_year"
    ROLLING = "rolling"


@dataclass(frozen=True)
class Window:
    """A campaign's time window: from `starts_at` (inclusive) to `ends_at` (exclusive), both UTC."""

    starts_at: datetime
    ends_at: datetime

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class Match:
    """Conditions of a rule; an empty set means "any". Lists match by exact, case-sensitive value."""

    skus: frozenset[str]
    categories: frozenset[str]
    channels: frozenset[str]
    # Currency code -> minimum amount paid, in minor units of that currency.
    min_spend: Mapping[str, int]

    @property
    def per_item(self) -> bool:
        """Whether the rule applies to matching line items rather than to the whole purchase."""
        return bool(self.skus or self.categories)

    def matches_purchase(self, purchase: Purchase) -> bool:
        if self.channels and purchase.channel not in self.channels:
            return False
        if self.min_spend:
            minimum = self.min_spend.get(purchase.amount.currency)
            return minimum is not None and purchase.amount.amount_minor >= minimum
        return True

    def matches_item(self, item: LineItem) -> bool:
        return (not self.skus or item.sku in self.skus) and (not self.categories or item.category in self.categories)


@dataclass(frozen=True)
class Rule:
    """An earning rule or a campaign: exactly one of `multiplier` and `bonus_points` is set."""

    id: str
    description: str
    match: Match
    multiplier: Decimal | None
    bonus_points: int | None
    per: BonusPer
    # Campaigns only: when the rule applies, by the purchase's occurred_at.
    window: Window | None = None

    def applies_to(self, purchase: Purchase) -> bool:
        in_window = self.window is None or self.window.contains(purchase.occurred_at)
        return in_window and self.match.matches_purchase(purchase)


@dataclass(frozen=True)
class Caps:
    per_purchase: int | None
    per_day: int | None


@dataclass(frozen=True)
class EarningPolicy:
    # Currency code -> points per whole currency unit.
    base_rates: Mapping[str, Decimal]
    rounding: Rounding
    rules: tuple[Rule, ...]
    campaigns: tuple[Rule, ...]
    caps: Caps


@dataclass(frozen=True)
class TierLevel:
    name: str
    # Points earned (basis points) or amount spent in the program currency (basis spend) within the window.
    threshold: Decimal
    earn_bonus_percent: Decimal


@dataclass(frozen=True)
class TierPolicy:
    basis: TierBasis
    window: TierWindow
    # Rolling windows only.
    window_months: int | None
    # How many tiers a member may lose at one requalification.
    downgrade_steps: int
    # Lowest first; the first threshold is 0.
    levels: tuple[TierLevel, ...]

    def level(self, name: str) -> TierLevel | None:
        return next((level for level in self.levels if level.name == name), None)


@dataclass(frozen=True)
class ExpiryPolicy:
    """No expiry when both terms are None."""

    months_after_earning: int | None
    inactivity_months: int | None
    # Days before an expiry that the member is reminded (PointsExpiring); None: no reminder.
    reminder_days: int | None

    def expires_at(self, earned_at: datetime, zone: ZoneInfo) -> datetime | None:
        """When points earned at `earned_at` expire under the fixed term, the same time of the same day of the month
        (or its last day) in the program's time zone; None when they do not."""
        if self.months_after_earning is None:
            return None
        return add_months(earned_at.astimezone(zone), self.months_after_earning).astimezone(UTC)

    def dormant_at(self, last_active_at: datetime) -> datetime | None:
        """When the inactivity policy takes all the points of a member last active (or enrolled) at
        `last_active_at`, months counted in UTC as the expiry job counts them (its SQL twin: dormancy.dormant_at_sql,
        the two pinned equal by tests/integration/test_points_expiry.py); None without the policy."""
        if self.inactivity_months is None:
            return None
        return add_months(last_active_at.astimezone(UTC), self.inactivity_months)


class SpentPoints(StrEnum):
    """What a refund does when the points it takes back were already spent."""

    # Owed off the books and repaid from the next purchase earnings by debt_repayment entries.
    DEBT = "debt"
    # Taken anyway by the refund entry: the balance goes negative until new points cover it.
    NEGATIVE_BALANCE = "negative_balance"


class LimitPer(StrEnum):
    """The period an activity's limit counts in: ever (once-only), or a program-local calendar month or year."""

    EVER = "ever"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class ActivityLimit:
    # At most `count` credits of the activity per period.
    count: int
    per: LimitPer


@dataclass(frozen=True)
class Activity:
    """A configured action that earns fixed points through RecordActivity (newsletter opt-in, review written)."""

    id: str
    description: str
    points: int
    limit: ActivityLimit


class BirthdayWhen(StrEnum):
    """When the birthday bonus is paid: any day of the birth month, or on the birthday itself."""

    MONTH = "month"
    DAY = "day"


@dataclass(frozen=True)
class BirthdayBonus:
    points: int
    when: BirthdayWhen

    def occurrence_due(self, birth_date: date, today: date, enrolled_on: date = date.min) -> date | None:
        """The birthday (or first of the birth month) whose bonus is due on the program-local `today`, if any.

        A day-mode bonus stays due for BIRTHDAY_GRACE after the birthday, so a
        day on which the job could not run does not cost the member the bonus;
        but a birthday before the member enrolled is not one of theirs to pay.
        The occurrence's year keys the once-a-year credit.
        """
        for year in (today.year, today.year - 1):
            if self.when is BirthdayWhen.MONTH:
                start = date(year, birth_date.month, 1)
                end = add_months_to_date(start, 1)
            else:
                start = _birthday_in(birth_date, year)
                end = start + BIRTHDAY_GRACE
            if start <= today < end and (self.when is BirthdayWhen.MONTH or start >= enrolled_on):
                return start
        return None


@dataclass(frozen=True)
class ReferralBonus:
    """Paid to both members when the referred member first makes a qualifying purchase."""

    referrer_points: int
    referee_points: int
    # A qualifying purchase earns points and spends at least this much, in minor units of the program's currency.
    minimum_spend_minor: int

    def qualifies(self, paid: Money, points: int, program_currency: str) -> bool:
        """Whether a purchase paying `paid` and earning `points` qualifies; a minimum spend counts the program currency.

        Asked again of what is left of a purchase after a refund.
        """
        if points <= 0:
            return False
        if not self.minimum_spend_minor:
            return True
        return paid.currency == program_currency and paid.amount_minor >= self.minimum_spend_minor


@dataclass(frozen=True)
class Bonuses:
    # Points credited on enrolment; None: no signup bonus.
    signup_points: int | None
    activities: tuple[Activity, ...]
    birthday: BirthdayBonus | None = None
    referral: ReferralBonus | None = None

    def activity(self, activity_id: str) -> Activity | None:
        return next((activity for activity in self.activities if activity.id == activity_id), None)


NO_BONUSES = Bonuses(None, ())
BIRTHDAY_GRACE = timedelta(days=7)


def _birthday_in(birth_date: date, year: int) -> date:
    """The birthday in `year`; 29 February falls on the 28th in other years."""
    day = min(birth_date.day, calendar.monthrange(year, birth_date.month)[1])
    return date(year, birth_date.month, day)


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    effective_from: datetime
    # IANA time zone of the program's days: per-day caps and campaign dates.
    timezone: str
    # ISO 4217 code: money amounts given as plain numbers (tier spend) are in it.
    currency: str
    earning: EarningPolicy
    tiers: TierPolicy | None
    expiry: ExpiryPolicy
    pending_days: int
    bonuses: Bonuses = NO_BONUSES
    spent_points: SpentPoints = SpentPoints.DEBT

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def day_bounds(self, moment: datetime) -> tuple[datetime, datetime]:
        """The program-local day holding `moment`, as UTC [start, end): the per-day cap's day."""
        day = self.local_date(moment)
        start = datetime.combine(day, time(), tzinfo=self.zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def period_bounds(self, per: LimitPer, moment: datetime) -> tuple[datetime | None, datetime | None]:
        """The program-local calendar month or year holding `moment`, as UTC [start, end); (None, None) for ever."""
        if per is LimitPer.EVER:
            return None, None
        local = moment.astimezone(self.zone)
        first = local.date().replace(day=1) if per is LimitPer.MONTH else local.date().replace(month=1, day=1)
        start = datetime.combine(first, time(), tzinfo=self.zone)
        end = add_months(start, 1 if per is LimitPer.MONTH else 12)
        return start.astimezone(UTC), end.astimezone(UTC)

    def expires_at(self, earned_at: datetime) -> datetime | None:
        """When points earned at `earned_at` expire under the fixed term; None when they do not."""
        return self.expiry.expires_at(earned_at, self.zone)

    def available_at(self, earned_at: datetime) -> datetime:
        """When points earned at `earned_at` stop being pending."""
        return earned_at + timedelta(days=self.pending_days)

    def tier_bonus_percent(self, tier: str) -> Decimal:
        level = self.tiers.level(tier) if self.tiers else None
        return level.earn_bonus_percent if level else Decimal(0)


def add_months_to_date(day: date, months: int) -> date:
    return add_months(datetime.combine(day, time()), months).date()


def add_months(moment: datetime, months: int) -> datetime:
    """The same time `months` later; a day past the end of the target month becomes its last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
