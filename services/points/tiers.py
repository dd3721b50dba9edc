"""Tier rules, pure: which tier a qualifying value earns, when members move, what the next tier needs.

Tiers qualify on points earned (or money spent) within a window: the calendar
year so far, or the last N months. Never on the current balance. Upgrades
happen as soon as the value crosses a threshold; downgrades only at
requalification time (the end of the window the member qualified in), at
most `downgrade_steps` tiers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.points.program import TierLevel, TierPolicy, TierWindow, add_months

# The most two time zones' clocks differ by: UTC-12 to UTC+14.
_ZONE_SHIFTS_AT_MOST = timedelta(hours=26)


@dataclass(frozen=True)
class TierChange:
    previous: str
    tier: str
    qualifying_value: Decimal

    def upward(self, policy: TierPolicy) -> bool:
        return _rank(policy, self.tier) > _rank(policy, self.previous)


@dataclass(frozen=True)
class AtRisk:
    """Requalifying with the value so far would move the member down."""

    tier: str
    projected_tier: str
    needed_to_keep: Decimal


@dataclass(frozen=True)
class Requalification:
    """The member's next requalification: when, the value so far in the window it judges, what keeping needs."""

    at: datetime
    value: Decimal
    needed_to_keep: Decimal


@dataclass(frozen=True)
class Progress:
    tier: str
    qualifying_value: Decimal
    next_tier: str | None
    needed_for_next: Decimal


@dataclass(frozen=True)
class HeldTier:
    """The tier a member held when a purchase was made, with the ladder it was reached on (None: no program with
    tiers was in force then)."""

    name: str
    ladder: TierPolicy | None


def priced_tier(pricing: TierPolicy | None, held: HeldTier) -> str | None:
    """The tier of `pricing`, the ladder of the version pricing a purchase, whose bonus it earns: the held tier's
    name if `pricing` has it; else, the name renamed or dropped between the two ladders, the tier at the held tier's
    rank (the top one of a shorter ladder); None when the held tier was off its own ladder too.

    Names first: a name is what members carry and what the program's text calls a tier, so a tier kept under its
    name keeps its bonus wherever a version moved it.
    """
    if pricing is None:
        return None
    if pricing.level(held.name) is not None:
        return held.name
    rank = _rank(held.ladder, held.name) if held.ladder is not None else -1
    return pricing.levels[min(rank, len(pricing.levels) - 1)].name if rank >= 0 else None


def _rank(policy: TierPolicy, name: str) -> int:
    """The tier's place on the ladder, lowest 0. A tier not on it (a member's from before the program was applied,
    or one a later version dropped) ranks below the lowest: any move puts the member on the ladder."""
    for rank, level in enumerate(policy.levels):
        if level.name == name:
            return rank
    return -1


def earned_level(policy: TierPolicy, value: Decimal) -> TierLevel:
    """The highest tier whose threshold the value reaches (levels are lowest first, the first at 0)."""
    reached = [level for level in policy.levels if value >= level.threshold]
    return reached[-1] if reached else policy.levels[0]


def window_start(policy: TierPolicy, now: datetime, timezone: str) -> datetime:
    """Start of the qualifying window that ends now."""
    if policy.window is TierWindow.CALENDAR_YEAR:
        local = now.astimezone(ZoneInfo(timezone))
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    assert policy.window_months is not None
    return add_months(now.astimezone(ZoneInfo(timezone)), -policy.window_months)  # the program's day of the month


def judged_window(policy: TierPolicy, requalify_at: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The window [start, end) a requalification at `requalify_at` judges.

    A rolling window ends at the date. A calendar-year requalification falls on the stroke of the new year, so
    the year it judges is the one just closed, not the new one begun that instant; after the program's time
    zone changed, the date is that stroke in the old zone, hours away from it in the new one, and the year
    judged is still the one closing then (in the new zone), never the new year's first hours.
    """
    if policy.window is not TierWindow.CALENDAR_YEAR:
        return window_start(policy, requalify_at, timezone), requalify_at
    year_began = window_start(policy, requalify_at, timezone)
    next_year = year_began.replace(year=year_began.year + 1)
    closing = next_year if next_year - requalify_at <= _ZONE_SHIFTS_AT_MOST else year_began
    return closing.replace(year=closing.year - 1), closing


def next_requalification(policy: TierPolicy, qualified_at: datetime, timezone: str) -> datetime:
    """When a tier reached at `qualified_at` is next checked: the end of the window it was reached in.

    A rolling window reached on a day its last month lacks (31 January, one
    month) ends at the start of the month after (1 March), not on that month's
    last day (28 February): the months before that would reach back over the
    points that earned the tier, and they would keep it too.
    """
    local = qualified_at.astimezone(ZoneInfo(timezone))
    if policy.window is TierWindow.CALENDAR_YEAR:
        return local.replace(year=local.year + 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    assert policy.window_months is not None
    at = add_months(local, policy.window_months)
    if at.day == local.day:
        return at
    following = add_months(at.replace(day=1), 1)
    return following.replace(hour=0, minute=0, second=0, microsecond=0)


def upgrade(policy: TierPolicy, current: str, value: Decimal) -> TierChange | None:
    """After qualifying activity: a move up when the value reached a higher tier, else None."""
    level = earned_level(policy, value)
    if _rank(policy, level.name) > _rank(policy, current):
        return TierChange(current, level.name, value)
    return None


def requalify(policy: TierPolicy, current: str, value: Decimal) -> TierChange | None:
    """At requalification: keep, move up, or move down at most `downgrade_steps` tiers."""
    earned = _rank(policy, earned_level(policy, value).name)
    held = _rank(policy, current)
    if earned >= held:
        return upgrade(policy, current, value)
    floor = max(earned, held - policy.downgrade_steps)
    if floor == held:
        return None
    return TierChange(current, policy.levels[floor].name, value)


def progress(policy: TierPolicy, current: str, value: Decimal) -> Progress:
    rank = _rank(policy, current)
    if rank + 1 >= len(policy.levels):
        return Progress(current, value, None, Decimal(0))
    following = policy.levels[rank + 1]
    return Progress(current, value, following.name, max(Decimal(0), following.threshold - value))


def requalification(policy: TierPolicy, current: str, at: datetime, value: Decimal) -> Requalification:
    risk = at_risk(policy, current, value)
    return Requalification(at, value, risk.needed_to_keep if risk else Decimal(0))


def at_risk(policy: TierPolicy, current: str, value: Decimal) -> AtRisk | None:
    """Whether requalifying with `value` would lose `current`, and what keeping it still needs."""
    change = requalify(policy, current, value)
    if change is None or change.upward(policy):
        return None
    threshold = policy.levels[_rank(policy, current)].threshold
    return AtRisk(current, change.tier, max(Decimal(0), threshold - value))
